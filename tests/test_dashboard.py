"""The dashboard at /admin in a real browser: Debian's chromium driven by Playwright, headless.

CI installs chromium (.ci/run). Elsewhere, without /usr/bin/chromium, these tests are skipped: the
reason is the machine, not the project; with CI=true they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from decimal import Decimal
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
    """The service over real HTTP with the demo campaigns, and a headless browser. Dialogs are
    accepted; a prompt is answered with ``page.prompt_answer`` when a test sets it."""
    from playwright.async_api import async_playwright

    await demo.load(db)
    port = free_port()
    # webhook endpoints on 127.0.0.1 are allowed here, as for every test receiver
    app = create_app(settings.model_copy(update={"port": port, "media_fetch_allow_private": True}))
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
            answers: dict[str, str] = {}
            page.prompt_answers = answers  # type: ignore[attr-defined]
            page.on(
                "dialog",
                lambda dialog: asyncio.ensure_future(
                    dialog.accept(answers.get("prompt"))
                    if dialog.type == "prompt"
                    else dialog.accept()
                ),
            )
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
        f"document.querySelector(\"tr[data-id='{pause['id']}'] .status\")?.textContent === 'rolled back'"
    )
    campaign = await _api(url, f"/campaigns/{pause['campaign_id']}")
    assert campaign["status"] == "active"
    await page.screenshot(path=str(SCREENSHOTS / "actions.png"))


async def test_opportunity_buttons_move_it(site):
    url, page = site
    await _api(url, "/cycles", "POST", {})
    # the list puts what needs attention first: severity, then the money at stake
    opps = (await _api(url, "/opportunities?status=open&sort=attention&limit=2"))["items"]
    assert [o["severity"] for o in opps][0] in ("critical", "high")
    await _open(page, url)
    await page.click("button[data-tab=opportunities]")
    first, second = opps[0]["id"], opps[1]["id"]
    rows = page.locator("#opportunity-rows tr")
    assert await rows.nth(0).get_attribute("data-id") == first
    await page.select_option("#opp-status", "")  # any status, so that closed ones stay in view
    await page.click(f"button[data-opp='{first}'][data-move=start]")
    await page.wait_for_function(
        f"document.querySelector(\"tr[data-id='{first}'] .status\")?.textContent === 'in progress'"
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


# -- the views for daily work ---------------------------------------------------------------------


async def _expected_points(db, campaign_id) -> int:
    """Days from the campaign's first day with spend or revenue through today (UTC), both included."""
    return await db.fetchval(
        "SELECT (now() AT TIME ZONE 'UTC')::date - min((period_start AT TIME ZONE 'UTC')::date) + 1"
        " FROM campaign_metrics WHERE campaign_id = $1 AND (spend > 0 OR revenue > 0)",
        campaign_id,
    )


async def test_overview_charts_and_the_campaign_view(site, db):
    url, page = site
    await _api(url, "/cycles", "POST", {})
    await _open(page, url)
    await page.wait_for_selector("#chart-money canvas")
    assert await page.get_attribute("#chart-money", "data-points") == "30"
    assert await page.get_attribute("#chart-actions", "data-points") == "30"
    daily = (await _api(url, "/stats/daily?days=30"))["series"][0]["days"]
    assert daily[-1]["paused"] >= 1 and daily[-1]["expected_saved"] > 0
    await page.screenshot(path=str(SCREENSHOTS / "overview.png"))
    # From a campaign's name (in the Actions tab, a paused one) to its view: figures, the chart with
    # a point per day and a mark per action.
    await page.click("button[data-tab=actions]")
    first = page.locator("#action-rows a.campaign").first
    title = await first.text_content()
    campaign_id = await first.get_attribute("data-campaign") or ""
    await first.click()
    await page.wait_for_selector("#campaign-view:not([hidden]) #chart-campaign canvas")
    assert await page.text_content("#campaign-title") == title
    expected = await _expected_points(db, campaign_id)
    assert await page.get_attribute("#chart-campaign", "data-points") == str(expected)
    actions = (await _api(url, f"/actions?campaign_id={campaign_id}"))["items"]
    assert len(actions) >= 1
    assert await page.get_attribute("#chart-campaign", "data-marks") == str(len(actions))
    assert await page.locator("#campaign-action-rows tr[data-id]").count() == len(actions)
    await page.screenshot(path=str(SCREENSHOTS / "campaign.png"), full_page=True)
    series = await _api(url, f"/campaigns/{campaign_id}/metrics?bucket=hour")
    assert len(series["points"]) in (720, 721)  # 30 days by hour, a point per hour


async def test_a_custom_rule_is_built_previewed_backtested_and_saved(site, db, settings):
    from app.background.backtests import run_next
    from app.db.pool import create_pool

    url, page = site
    await _open(page, url)
    await page.click("button[data-tab=rules]")
    await page.click("#rule-new")
    await page.fill("#rule-name", "Weekly loser")
    # the builder starts with ROI < 0.8 over 7 days and spend ≥ 100; add an any-group
    await page.click("#rule-conditions [data-add-group]")
    await page.locator(
        "#rule-conditions [data-node=group] [data-node=group] [data-k=kind]"
    ).select_option("any")
    assert await page.locator("#rule-conditions [data-node=leaf]").count() == 3
    await page.click("#rule-preview")
    await page.wait_for_selector("#rule-preview-out:not([hidden])")
    summary = await page.text_content("#rule-preview-summary")
    assert summary.startswith("Of ") and "it would act on" in summary
    rows = await page.locator("#rule-preview-rows tr").count()
    assert rows >= 1
    assert rows <= 50
    await page.locator("#rule-editor").screenshot(path=str(SCREENSHOTS / "rule-editor.png"))
    # Backtest: queued by the page, run by a runner, followed until done.
    await page.click("#rule-backtest")
    await page.wait_for_function(
        "document.querySelector('#rule-backtest-summary').textContent.includes('one at a time')"
    )
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        assert await run_next(pool) is not None
    finally:
        await pool.close()
    await page.wait_for_function(
        "document.querySelector('#rule-backtest-summary').textContent.includes('daily steps')"
    )
    await page.wait_for_selector("#chart-rule-backtest canvas")
    body = (await db.fetchval("SELECT rules FROM backtests"))[0]
    assert body["name"] == "Weekly loser" and "any" in json_dumps(body["conditions"])
    await page.click("#rule-save")
    await page.wait_for_selector("#rule-rows td:has-text('Weekly loser')")
    rule = await db.fetchrow("SELECT * FROM autonomous_rules WHERE name = 'Weekly loser'")
    assert (
        rule["rule_type"] == "pause" and rule["conditions"]["all"][2]["any"][0]["metric"] == "ctr"
    )
    await page.click("button[data-tab=backtests]")
    await page.wait_for_selector("#backtest-rows td:has-text('succeeded')")
    await page.screenshot(path=str(SCREENSHOTS / "backtests.png"))


def json_dumps(value) -> str:
    import json

    return json.dumps(value)


async def test_a_bad_condition_shows_the_servers_message_at_its_field(site, db):
    url, page = site
    await _open(page, url)
    await page.click("button[data-tab=rules]")
    await page.click("#rule-new")
    await page.fill("#rule-name", "Broken")
    leaf = page.locator("#rule-conditions [data-node=leaf]").first
    await leaf.locator("[data-k=op]").select_option("between")
    await leaf.locator("[data-k=value]").fill("3")
    await page.click("#rule-save")
    error = page.locator('.field-error[data-for="conditions.all[0].value"]')
    await error.wait_for()
    assert "low" in (await error.text_content()) or "[" in (await error.text_content())
    assert "invalid" in (await leaf.locator("[data-k=value]").get_attribute("class"))
    assert await db.fetchval("SELECT count(*) FROM autonomous_rules WHERE name = 'Broken'") == 0


async def test_a_changed_setting_persists_after_a_reload(site):
    url, page = site
    await _open(page, url)
    await page.click("button[data-tab=settings]")
    await page.fill("#set-min_spend", "75")
    await page.click("#settings-save")
    await page.wait_for_function(
        "document.querySelector('#notice').textContent.includes('min_spend')"
    )
    await page.reload()
    await page.wait_for_selector("#app:not([hidden])")
    await page.click("button[data-tab=settings]")
    await page.wait_for_function("document.querySelector('#set-min_spend')?.value === '75'")
    assert (await _api(url, "/settings"))["min_spend"] == 75
    # the maturity curve, a list of shares
    await page.fill("#set-maturity_default_curve", "0.5, 0.8, 1")
    await page.click("#settings-save")
    await page.wait_for_function(
        "document.querySelector('#notice').textContent.includes('maturity_default_curve')"
    )
    assert (await _api(url, "/settings"))["maturity_default_curve"] == [0.5, 0.8, 1]
    await page.fill("#set-maturity_default_curve", "0.5, 0.4, 1")  # falls: refused at the field
    await page.click("#settings-save")
    await page.locator('.field-error[data-for="maturity_default_curve"]').wait_for()
    await page.fill("#set-maturity_default_curve", "0.5, 0.8, 1")
    await page.fill("#set-max_scale_factor", "50")  # out of range: the server's words at the field
    await page.click("#settings-save")
    await page.locator('.field-error[data-for="max_scale_factor"]').wait_for()
    await page.screenshot(path=str(SCREENSHOTS / "settings.png"))


async def test_a_webhook_is_created_and_its_secret_shown_once(site):
    url, page = site
    await _open(page, url)
    await page.click("button[data-tab=webhooks]")
    await page.fill("#webhook-url", "http://127.0.0.1:9/hook")
    await page.click("#webhook-create")
    await page.wait_for_selector("#webhook-secret-box:not([hidden])")
    secret = await page.text_content("#webhook-secret")
    assert secret.startswith("whsec_")
    await page.wait_for_selector("#webhook-rows td:has-text('127.0.0.1:9')")
    await page.screenshot(path=str(SCREENSHOTS / "webhooks.png"))
    await page.click("#webhook-rows button[data-hook-test]")
    await page.wait_for_selector("#delivery-rows td:has-text('webhook.test')")
    # once: gone when the tab is left, and nowhere in the API
    await page.click("button[data-tab=overview]")
    await page.click("button[data-tab=webhooks]")
    assert await page.is_hidden("#webhook-secret-box")
    listed = await _api(url, "/webhooks")
    assert secret not in str(listed) and secret not in await page.content()


async def test_a_social_account_is_connected_and_its_token_rotated(site):
    url, page = site
    await _open(page, url)
    await page.click("button[data-tab=accounts]")
    await page.select_option("#account-platform", "facebook")
    await page.fill("#account-id", "page-1178")
    await page.fill("#account-token", "EAAB-first-token-1111")
    await page.click("#account-connect")
    await page.wait_for_selector("#account-rows td.token:has-text('1111')")
    page.prompt_answers["prompt"] = "EAAB-second-token-2222"
    await page.click("#account-rows button[data-rotate]")
    await page.wait_for_selector("#account-rows td.token:has-text('2222')")
    accounts = (await _api(url, "/social-accounts"))["items"]
    assert [a["token_last4"] for a in accounts] == ["2222"]
    assert "EAAB-second" not in await page.content()
    await page.screenshot(path=str(SCREENSHOTS / "accounts.png"))


async def test_tabs_keys_hashchange_and_a_phone_screen(site):
    url, page = site
    await _open(page, url)
    await page.focus("#tab-btn-overview")
    await page.keyboard.press("ArrowRight")
    assert await page.get_attribute("#tab-btn-campaigns", "aria-selected") == "true"
    assert await page.get_attribute("#tab-btn-overview", "aria-selected") == "false"
    assert await page.evaluate("document.activeElement.id") == "tab-btn-campaigns"
    await page.keyboard.press("End")
    assert await page.get_attribute("#tab-btn-webhooks", "aria-selected") == "true"
    # a token link opened in a tab already on /admin: taken at once, no reload
    await page.evaluate("sessionStorage.clear()")
    await page.goto(f"{url}/admin")
    await page.wait_for_selector("#login:not([hidden])")
    token = mint_token(TEST_SECRET, "authenticated", "admin")
    await page.evaluate(f"location.hash = 'token={token}'")
    await page.wait_for_selector("#app:not([hidden])")
    # 390 px wide: nothing wider than the screen but the tables, which scroll in their box
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.click("button[data-tab=overview]")
    await page.wait_for_selector("#chart-money canvas")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def test_a_queued_backtest_is_cancelled_from_the_backtests_tab(site, db):
    url, page = site
    queued = await _api(url, "/backtests", "POST", {"from": "2026-11-01", "to": "2026-11-20"})
    await _open(page, url)
    await page.click("button[data-tab=backtests]")
    await page.click(f"button[data-cancel-backtest='{queued['id']}']")  # the confirm is accepted
    await page.wait_for_selector("#backtest-rows td:has-text('cancelled')")
    assert await page.locator("button[data-cancel-backtest]").count() == 0
    row = await db.fetchrow(
        "SELECT status, cancelled_by FROM backtests WHERE id = $1", queued["id"]
    )
    assert row["status"] == "cancelled" and row["cancelled_by"]


async def test_ad_accounts_tab_syncs_the_sandbox_and_makes_a_manual_account(site, db, settings):
    from app.core.crypto import TokenCipher
    from app.db.pool import create_pool
    from app.services.sync import sync_once

    url, page = site
    assert await demo.connect_sandbox(db)
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        first = await sync_once(
            pool, settings, TokenCipher(settings.encryption_key()), worker="test"
        )
        assert first is not None and first["status"] == "succeeded", first
        await _open(page, url)
        await page.click("button[data-tab=adaccounts]")
        row = page.locator("#adaccount-rows tr", has_text="Sandbox (demo data)")
        await row.locator("td.last-sync:not(:empty)").wait_for()
        assert "USD · America/Los_Angeles" in await row.inner_text()
        await row.locator("button[data-sync-account]").click()  # asks; the worker below takes it
        await page.wait_for_selector("#sync-rows td.status:has-text('running')")
        again = await sync_once(
            pool, settings, TokenCipher(settings.encryption_key()), worker="test"
        )
        assert again is not None and again["status"] == "succeeded"
        await row.locator("button[data-account-syncs]").click()
        await page.wait_for_function(
            "[...document.querySelectorAll('#sync-rows td.status')].every(td => td.textContent === 'succeeded')"
        )
        assert await page.locator("#sync-rows tr").count() == 2
        # how complete its recent days are: the default curve until it has days of its own
        await page.wait_for_selector("#maturity-text:has-text('The default curve')")
        assert await page.get_attribute("#chart-maturity", "data-points") == "5"
        # the mode, changed in place, persists
        await row.locator("select[data-account-mode]").select_option("approve")
        await page.wait_for_selector("#notice:has-text('Mode set to approve')")
        accounts = (await _api(url, "/ad-accounts"))["items"]
        assert {a["name"]: a["mode"] for a in accounts}["Sandbox (demo data)"] == "approve"
    finally:
        await pool.close()
    # a manual account: a bad currency is shown at its field, then it is made
    await page.select_option("#adaccount-platform", "manual")
    await page.fill("#adaccount-id", "client-acme")
    await page.fill("#adaccount-name", "Acme")
    await page.fill("#adaccount-currency", "EURO")
    await page.fill("#adaccount-timezone", "Europe/Berlin")
    await page.click("#adaccount-connect")
    await page.wait_for_selector("#adaccount-form .field-error[data-for=currency]")
    await page.fill("#adaccount-currency", "EUR")
    await page.click("#adaccount-connect")
    await page.wait_for_selector("#adaccount-rows td:has-text('EUR · Europe/Berlin')")
    await page.screenshot(path=str(SCREENSHOTS / "ad-accounts.png"))
    # the campaigns tab names each campaign's account
    await page.click("button[data-tab=campaigns]")
    await page.wait_for_selector("#campaign-rows td:has-text('Sandbox (demo data)')")


async def test_observe_mode_on_the_sandbox_queues_proposals_and_approving_one_applies_it(
    site, db, settings
):
    from app.background.changes import send_due
    from app.core.crypto import TokenCipher
    from app.db.pool import create_pool
    from app.platforms import sandbox
    from app.services.apply import Sender
    from app.services.sync import sync_once

    url, page = site
    assert await demo.connect_sandbox(db)  # observe mode
    cipher = TokenCipher(settings.encryption_key())
    pool = await create_pool(settings.database_url, 1, 2)
    try:
        synced = await sync_once(pool, settings, cipher, worker="test")
        assert synced is not None and synced["status"] == "succeeded", synced
        await _api(url, "/cycles", "POST", {})
        proposed = (await _api(url, "/actions?status=proposed&limit=100"))["items"]
        assert proposed, "the sandbox's campaigns gave no proposal"
        first = proposed[0]
        await _open(page, url)
        await page.click("button[data-tab=actions]")
        queue = page.locator("#approval-rows tr")
        await queue.first.wait_for()
        assert await queue.count() == len(proposed)
        # the audit trail, filtered to the proposals (a cycle writes many actions at one moment)
        await page.select_option("#action-status", "proposed")
        row = page.locator(f"#action-rows tr[data-id='{first['id']}']")
        assert (await row.locator(".status").inner_text()) == "proposed"
        assert (await row.locator(".platform").inner_text()) == "not sent"
        await page.screenshot(path=str(SCREENSHOTS / "approvals.png"))
        await page.locator(
            f"#approval-rows tr[data-id='{first['id']}'] button[data-approve]"
        ).click()
        await page.wait_for_selector("#notice:has-text('Approved')")
        await page.select_option("#action-status", "pending")
        await page.wait_for_function(
            f"document.querySelector(\"#action-rows tr[data-id='{first['id']}'] .status\")?.textContent === 'pending'"
        )
        assert await page.locator(f"#approval-rows tr[data-id='{first['id']}']").count() == 0
        # the worker's sender applies it to the sandbox platform
        report = await send_due(pool, settings, cipher, Sender(pool, "test"))
        assert report.outcomes == {"applied": 1}, report
        external = (await _api(url, f"/campaigns/{first['campaign_id']}"))["external_id"]
        graph = sandbox(Decimal(str(settings.demo_value_per_conversion)))
        campaign = next(c for c in graph.accounts["act_0"].campaigns if c.id == external)
        if first["action_type"] == "pause":
            assert campaign.status == "PAUSED"
        else:
            adsets = {a["id"] for a in campaign.adsets}
            assert adsets and adsets <= {n for n, _ in graph.applied}  # each ad set scaled
        await page.select_option("#action-type", first["action_type"])
        await page.select_option("#action-status", "executed")
        await page.wait_for_function(
            f"document.querySelector(\"#action-rows tr[data-id='{first['id']}'] .platform\")?.textContent === 'applied'"
        )
        assert (
            await page.locator(f"#action-rows tr[data-id='{first['id']}'] .status").inner_text()
        ) == "executed"
    finally:
        await pool.close()


async def test_a_scoped_token_sees_only_its_accounts_and_the_switcher_filters(site, db):
    url, page = site
    ids = {}
    for name, currency in (("Client A", "EUR"), ("Client B", "JPY")):
        ids[name] = await db.fetchval(
            "INSERT INTO ad_accounts (platform, external_id, name, currency, timezone)"
            " VALUES ('manual', $1, $1, $2, 'UTC') RETURNING id::text",
            name,
            currency,
        )
        await db.execute(
            "INSERT INTO campaigns (external_id, title, status, account_id, daily_budget)"
            " VALUES ($1, $1, 'active', $2, 50)",
            f"{name} campaign",
            ids[name],
        )
    token = mint_token(TEST_SECRET, "authenticated", "scoped", accounts=[ids["Client A"]])
    await page.goto(f"{url}/admin#token={token}")
    await page.wait_for_selector("#app:not([hidden])")
    await page.wait_for_function("document.querySelectorAll('#account-switcher option').length > 1")
    options = await page.eval_on_selector_all(
        "#account-switcher option", "els => els.map(e => e.textContent)"
    )
    assert options == ["All accounts", "Client A (EUR)"]
    await page.wait_for_selector("#stat-money:has-text('€50.00')")
    assert "¥" not in await page.inner_text("#stat-money")
    # the agency's controls are not offered, and nothing it loads is refused
    assert await page.is_hidden("#run-cycle") and await page.is_hidden("#tab-btn-webhooks")
    await page.click("button[data-tab=campaigns]")
    await page.wait_for_selector("#campaign-rows td:has-text('Client A campaign')")
    rows = await page.inner_text("#campaign-rows")
    assert "Client B" not in rows and await page.locator("#campaign-rows tr").count() == 1
    assert await page.is_hidden("#error")
    await page.screenshot(path=str(SCREENSHOTS / "scoped-token.png"))

    # an admin sees every account, and the switcher narrows the lists to one
    await _open(page, url)
    await page.click("button[data-tab=campaigns]")
    await page.wait_for_selector("#campaign-rows td:has-text('Client B campaign')")
    await page.select_option("#account-switcher", ids["Client B"])
    await page.wait_for_function(
        "document.querySelectorAll('#campaign-rows tr').length === 1"
        " && document.querySelector('#campaign-rows').textContent.includes('Client B campaign')"
    )
    await page.wait_for_selector("#stat-money:has-text('¥50')")
