"""The dashboard at /admin in a real browser: Debian's chromium driven by Playwright, headless.

CI installs chromium (.ci/run). Elsewhere, without /usr/bin/chromium, these tests are skipped: the
reason is the machine, not the project; with CI=true they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from app.core.security import mint_token
from app.main import create_app
from app.services import demo
from tests.conftest import TEST_SECRET, auth
from tests.servers import free_port, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture
async def site(settings, db):
    """The service over real HTTP with the demo campaigns, and a headless browser."""
    from playwright.async_api import async_playwright

    await demo.load(db)
    port = free_port()
    app = create_app(settings.model_copy(update={"port": port}))
    with serve(app, port=port, lifespan="on") as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            yield url, page
            await browser.close()


async def _open(page, url: str) -> None:
    token = mint_token(TEST_SECRET, "authenticated", "admin")
    await page.goto(f"{url}/admin#token={token}")
    await page.wait_for_selector("#app:not([hidden])")
    await page.wait_for_function("document.querySelector('#stat-actions').textContent !== '–'")


async def _api(url: str, path: str, method: str = "GET", json: dict | None = None) -> dict:
    import httpx

    async with httpx.AsyncClient(base_url=url, headers=auth()) as client:
        r = await client.request(method, path, json=json)
        assert r.status_code < 400, r.text
        return r.json()


async def test_loads_with_token_and_stats_match_the_api(site):
    url, page = site
    await _open(page, url)
    assert "token=" not in page.url  # the fragment is removed once read
    stats = await _api(url, "/stats")
    assert await page.text_content("#stat-actions") == str(stats["total_actions"])
    assert await page.text_content("#stat-opportunities") == str(stats["open_opportunities"])
    await page.wait_for_selector("#under-rows tr td.roi-bad")
    await page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=False)


async def test_run_cycle_spins_then_updates(site):
    url, page = site
    await _open(page, url)
    before = await page.text_content("#last-run")

    async def slow(route):
        await asyncio.sleep(1.0)
        await route.continue_()

    await page.route("**/cycles", slow)
    await page.click("#run-cycle")
    await page.wait_for_selector("#spinner", state="visible")
    await page.wait_for_selector("#spinner", state="detached", timeout=30_000)
    await page.wait_for_function(f"document.querySelector('#last-run').textContent !== {before!r}")
    assert (await page.text_content("#last-run")).startswith("Last run: ")
    stats = await _api(url, "/stats")
    assert stats["total_actions"] > 0
    await page.wait_for_function(
        f"document.querySelector('#stat-actions').textContent === '{stats['total_actions']}'"
    )
    assert await page.text_content("#stat-paused") == str(stats["paused"])
    assert "Cycle done" in await page.text_content("#notice")


async def test_dry_run_shows_plans_and_changes_nothing(site):
    url, page = site
    await _open(page, url)
    await page.click("#dry-run")
    await page.wait_for_selector("#dryrun-rows tr")
    assert "nothing was changed" in await page.text_content("#notice")
    assert (await _api(url, "/stats"))["total_actions"] == 0


async def test_rollback_from_the_actions_tab(site):
    url, page = site
    await _api(url, "/cycles", "POST", {})
    pause = (await _api(url, "/actions?action_type=pause&limit=1"))["items"][0]
    await _open(page, url)
    await page.click("button[data-tab=actions]")
    row = page.locator(f"tr[data-id='{pause['id']}']")
    await row.locator("button[data-rollback]").click()
    await page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{pause['id']}'] .status\")?.textContent === 'rolled_back'"
    )
    campaign = await _api(url, f"/campaigns/{pause['campaign_id']}")
    assert campaign["status"] == "active"
    await page.screenshot(path=str(SCREENSHOTS / "actions.png"))


async def test_opportunity_buttons_move_it(site):
    url, page = site
    await _api(url, "/cycles", "POST", {})
    opps = (await _api(url, "/opportunities?status=open&limit=2"))["items"]
    await _open(page, url)
    await page.click("button[data-tab=opportunities]")
    first, second = opps[0]["id"], opps[1]["id"]
    await page.click(f"button[data-opp='{first}'][data-move=start]")
    await page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{first}'] .status\")?.textContent === 'in_progress'"
    )
    await page.screenshot(path=str(SCREENSHOTS / "opportunities.png"))
    await page.click(f"button[data-opp='{first}'][data-move=resolve]")
    await page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{first}'] .status\")?.textContent === 'resolved'"
    )
    await page.click(f"button[data-opp='{second}'][data-move=dismiss]")
    await page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{second}'] .status\")?.textContent === 'dismissed'"
    )
    assert (await _api(url, f"/opportunities/{first}"))["status"] == "resolved"
    assert (await _api(url, f"/opportunities/{second}"))["status"] == "dismissed"


async def test_rule_toggle_survives_a_reload(site):
    url, page = site
    await _open(page, url)
    await page.click("button[data-tab=rules]")
    box = page.locator("input[aria-label='Active: Low ROI Pause']")
    assert await box.is_checked()
    await box.click()
    await page.wait_for_function(
        "!document.querySelector(\"input[aria-label='Active: Low ROI Pause']\").checked"
    )
    await page.screenshot(path=str(SCREENSHOTS / "rules.png"))
    await page.reload()
    await page.wait_for_selector("#app:not([hidden])")
    await page.click("button[data-tab=rules]")
    await page.wait_for_selector("input[aria-label='Active: Low ROI Pause']")
    assert not await page.locator("input[aria-label='Active: Low ROI Pause']").is_checked()
    rules = (await _api(url, "/rules"))["items"]
    assert next(r for r in rules if r["name"] == "Low ROI Pause")["is_active"] is False


async def test_schedules_tab_and_errors_in_words(site, db):
    url, page = site
    await db.execute(
        "INSERT INTO social_accounts (platform, account_id, access_token_encrypted) VALUES ('x', 'x-1', '\\x00')"
    )
    await _api(url, "/cycles", "POST", {})
    some = (await _api(url, "/campaigns?status=active&limit=1"))["items"][0]
    await _api(url, f"/campaigns/{some['id']}/post", "POST")
    await _open(page, url)
    await page.click("button[data-tab=schedules]")
    await page.wait_for_selector("#schedule-rows tr td")
    assert "x" in await page.text_content("#schedule-rows")
    await page.screenshot(path=str(SCREENSHOTS / "schedules.png"))
    # An API error is shown in words: rolling back something already rolled back.
    action = (await _api(url, "/actions?action_type=pause&limit=1"))["items"][0]
    await _api(url, f"/actions/{action['id']}/rollback", "POST", {})
    await page.click("button[data-tab=actions]")
    await page.evaluate(
        "id => { const b = document.createElement('button'); b.dataset.rollback = id; b.id = 'stale';"
        " document.body.appendChild(b); }",
        action["id"],
    )
    await page.click("#stale")
    await page.wait_for_selector("#error", state="visible")
    assert "already rolled back" in await page.text_content("#error")


async def test_without_a_token_the_prompt_appears(site):
    url, page = site
    await page.goto(f"{url}/admin")
    await page.wait_for_selector("#login:not([hidden])")
    assert await page.is_hidden("#app")
    await page.fill("#token-input", "not-a-valid-token")
    await page.click("#token-save")
    await page.wait_for_function(
        "document.querySelector('#login-reason').textContent.includes('refused')"
    )
    assert await page.is_visible("#login")
