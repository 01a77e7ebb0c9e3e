"""The dispatcher: schedules become one delivery per platform, each published once, outcomes recorded."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from app.background import posts as dispatcher
from app.background.posts import dispatch_once
from app.main import create_app
from app.services.publishers import compose
from app.services.publishers.base import OutcomeUnknown, RetryLater, TokenExpired
from tests.conftest import auth
from tests.scenario import campaign

TOKENS = {p: f"{p}-secret-token-{uuid.uuid4().hex}" for p in ("facebook", "instagram", "x")}


@pytest.fixture
async def service(settings):
    app = create_app(settings)
    app.state.publisher = dispatcher.build_publisher(settings)  # the sandbox: no loop runs in tests
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield app, client


async def _connect_all(client) -> None:
    for platform, token in TOKENS.items():
        r = await client.post(
            "/social-accounts",
            headers=auth(),
            json={"platform": platform, "account_id": f"{platform}-1", "access_token": token},
        )
        assert r.status_code == 201


async def _due_schedule(
    db, client, copy: str = "Fresh spring styles for the whole family."
) -> uuid.UUID:
    cid = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400)
    await db.execute("UPDATE campaigns SET description = $2 WHERE id = $1", cid, copy)
    r = await client.post(f"/campaigns/{cid}/post", headers=auth())
    assert r.status_code == 201, r.text
    schedule_id = await db.fetchval("SELECT id FROM campaign_schedules WHERE campaign_id = $1", cid)
    await db.execute(
        "UPDATE campaign_schedules SET scheduled_for = now() - interval '1 second' WHERE id = $1",
        schedule_id,
    )
    return schedule_id


def _records(settings) -> list[dict]:
    path = settings.data_dir / "sandbox" / "posts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_end_to_end_with_the_sandbox(service, db, settings):
    app, client = service
    await _connect_all(client)
    long_copy = " ".join(
        ["Our spring collection brings light fabrics, bright colours and easy fits."] * 8
    )
    schedule_id = await _due_schedule(db, client, long_copy)
    report = await dispatch_once(app.state.pool, app.state.publisher, app.state.cipher)
    assert report.claimed == 3 and report.outcomes == {"posted": 3}

    got = (await client.get(f"/schedules/{schedule_id}", headers=auth())).json()
    assert got["status"] == "posted"
    assert {d["platform"]: d["status"] for d in got["posts"]} == dict.fromkeys(TOKENS, "posted")
    records = _records(settings)
    by_platform: dict[str, list[dict]] = {}
    for rec in records:
        by_platform.setdefault(rec["platform"], []).append(rec)
    (fb,) = by_platform["facebook"]
    assert (
        "utm_source=facebook&utm_medium=social" in fb["link"]
        and "utm_content=autonomous_post" in fb["link"]
    )
    (ig,) = by_platform["instagram"]
    assert ig["caption"].endswith("link in bio.") and len(ig["caption"]) <= 2200
    thread = by_platform["x"]
    assert len(thread) > 1
    assert all(compose.x_weight(t["text"]) <= 280 for t in thread)
    assert [t["in_reply_to"] for t in thread] == [None] + [t["id"] for t in thread[:-1]]
    assert thread[-1]["text"].split("(")[-1] == f"{len(thread)}/{len(thread)})"
    assert "utm_source=x" in thread[-1]["text"]
    x_delivery = next(d for d in got["posts"] if d["platform"] == "x")
    assert x_delivery["external_post_ids"] == [t["id"] for t in thread]
    # No token went to the sandbox's records, and nothing is sent twice.
    assert not any(token in json.dumps(records) for token in TOKENS.values())
    again = await dispatch_once(app.state.pool, app.state.publisher, app.state.cipher)
    assert again.claimed == 0 and len(_records(settings)) == len(records)
    assert (await client.get("/stats", headers=auth())).json()["posted"] == 1


async def test_not_due_is_not_claimed_and_cancel(service, db):
    app, client = service
    await _connect_all(client)
    schedule_id = await _due_schedule(db, client)
    await db.execute("UPDATE campaign_schedules SET scheduled_for = now() + interval '5 minutes'")
    assert (await dispatch_once(app.state.pool, app.state.publisher, app.state.cipher)).claimed == 0
    r = await client.post(f"/schedules/{schedule_id}/cancel", headers=auth())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    await db.execute("UPDATE campaign_schedules SET scheduled_for = now() - interval '1 minute'")
    assert (await dispatch_once(app.state.pool, app.state.publisher, app.state.cipher)).claimed == 0
    again = await client.post(f"/schedules/{schedule_id}/cancel", headers=auth())
    assert again.status_code == 409
    assert (
        await client.post(f"/schedules/{uuid.uuid4()}/cancel", headers=auth())
    ).status_code == 404
    listed = (await client.get("/schedules", params={"status": "cancelled"}, headers=auth())).json()
    assert [s["id"] for s in listed["items"]] == [str(schedule_id)]


class Scripted:
    """A publisher that does what each test tells it, per platform, and counts its calls."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls: list[str] = []

    async def publish(self, platform, account_id, token, content, accepted, already):
        self.calls.append(platform)
        await self.behaviour(platform, token, accepted)


async def _deliveries(db) -> dict[str, dict]:
    rows = await db.fetch("SELECT * FROM social_posts")
    return {r["platform"]: dict(r) for r in rows}


async def test_retry_honours_the_platforms_time_then_gives_up(service, db, monkeypatch):
    app, client = service
    await _connect_all(client)
    await _due_schedule(db, client)
    reset = datetime.now(UTC) + timedelta(minutes=15)

    async def rate_limited(platform, token, accepted):
        raise RetryLater("429 Too Many Requests", not_before=reset)

    pub = Scripted(rate_limited)
    await dispatch_once(app.state.pool, pub, app.state.cipher)
    d = await _deliveries(db)
    assert all(x["status"] == "pending" and x["attempts"] == 1 for x in d.values())
    assert all(x["next_attempt_at"] >= reset for x in d.values())
    assert (
        await dispatch_once(app.state.pool, pub, app.state.cipher)
    ).claimed == 0  # not before the reset
    monkeypatch.setattr(dispatcher, "MAX_ATTEMPTS", 2)
    await db.execute("UPDATE social_posts SET next_attempt_at = now() - interval '1 second'")
    await dispatch_once(app.state.pool, pub, app.state.cipher)
    d = await _deliveries(db)
    assert all(
        x["status"] == "failed" and "gave up after 2 attempts" in x["last_error"]
        for x in d.values()
    )
    assert await db.fetchval("SELECT status FROM campaign_schedules") == "failed"


async def test_unknown_outcome_is_never_resent_and_ids_are_kept(service, db):
    app, client = service
    await _connect_all(client)
    await _due_schedule(db, client)

    async def flaky(platform, token, accepted):
        if platform == "x":
            await accepted("1445880548472328192")  # the first tweet of a thread went out
            raise OutcomeUnknown("timeout while posting the reply")
        if platform == "instagram":
            raise RuntimeError("socket closed")  # anything unexpected: unknown, not retried
        await accepted("page_post_1")

    pub = Scripted(flaky)
    await dispatch_once(app.state.pool, pub, app.state.cipher)
    d = await _deliveries(db)
    assert d["x"]["status"] == "unknown" and d["x"]["external_post_ids"] == ["1445880548472328192"]
    assert d["instagram"]["status"] == "unknown"
    assert d["facebook"]["status"] == "posted" and d["facebook"]["external_post_ids"] == [
        "page_post_1"
    ]
    await dispatch_once(app.state.pool, pub, app.state.cipher)
    assert sorted(pub.calls) == ["facebook", "instagram", "x"]  # each once
    assert await db.fetchval("SELECT status FROM campaign_schedules") == "failed"


async def test_token_errors_expire_the_account(service, db):
    app, client = service
    await _connect_all(client)
    await _due_schedule(db, client)
    seen_tokens: list[str] = []

    async def expired(platform, token, accepted):
        seen_tokens.append(token)
        if platform == "facebook":
            raise TokenExpired("Graph error 190: Error validating access token")
        await accepted(f"{platform}-id")

    await dispatch_once(app.state.pool, Scripted(expired), app.state.cipher)
    d = await _deliveries(db)
    assert (
        d["facebook"]["status"] == "failed" and "expired or revoked" in d["facebook"]["last_error"]
    )
    assert (
        await db.fetchval("SELECT status FROM social_accounts WHERE platform = 'facebook'")
        == "expired"
    )
    assert sorted(seen_tokens) == sorted(
        TOKENS.values()
    )  # the dispatcher decrypted the real tokens


async def test_two_dispatchers_never_send_a_delivery_twice(service, db, settings):
    app, client = service
    await _connect_all(client)
    for _ in range(6):
        await _due_schedule(db, client)
        await db.execute("UPDATE campaign_schedules SET created_at = created_at - interval '1 day'")
    sent: list[tuple[str, str]] = []

    async def slow(platform, token, accepted):
        await asyncio.sleep(0.01)
        post_id = uuid.uuid4().hex
        sent.append((platform, post_id))
        await accepted(post_id)

    pub = Scripted(slow)
    reports = await asyncio.gather(
        *[dispatch_once(app.state.pool, pub, app.state.cipher, limit=4) for _ in range(4)]
    )
    while (await dispatch_once(app.state.pool, pub, app.state.cipher, limit=4)).claimed:
        pass
    assert sum(r.claimed for r in reports) <= 18
    assert len(sent) == 18  # 6 schedules × 3 platforms, each exactly once
    assert await db.fetchval("SELECT count(*) FROM social_posts WHERE status = 'posted'") == 18
    assert await db.fetchval("SELECT count(DISTINCT status) FROM campaign_schedules") == 1


async def test_a_send_left_behind_by_a_dead_worker_becomes_unknown(service, db):
    app, client = service
    await _connect_all(client)
    await _due_schedule(db, client)

    async def never(platform, token, accepted):
        raise AssertionError("must not be called")

    async with app.state.pool.acquire() as conn:  # a worker claims, then dies before sending
        await conn.fetch("SELECT * FROM claim_due_posts(10)")
    await db.execute("ALTER TABLE social_posts DISABLE TRIGGER social_posts_touch")
    await db.execute("UPDATE social_posts SET updated_at = now() - interval '11 minutes'")
    await db.execute("ALTER TABLE social_posts ENABLE TRIGGER social_posts_touch")
    report = await dispatch_once(app.state.pool, Scripted(never), app.state.cipher)
    assert report.claimed == 0
    d = await _deliveries(db)
    assert all(
        x["status"] == "unknown" and "check the platform" in x["last_error"] for x in d.values()
    )


def test_x_weighting_and_threads():
    assert compose.x_weight("hello") == 5
    assert compose.x_weight("see https://example.com/a/very/long/path?x=1 now") == 4 + 23 + 4
    assert compose.x_weight("日本語") == 6
    short = compose.x_thread(
        {
            "title": "Sale",
            "copy": "Today only.",
            "cta_label": "Shop",
            "links": {"x": "https://s.example/x?utm_source=x"},
        }
    )
    assert short == ["Sale Today only.\n\nShop: https://s.example/x?utm_source=x"]
    long = compose.x_thread(
        {"title": "T", "copy": "word " * 300, "links": {"x": "https://s.example/" + "p" * 80}}
    )
    assert len(long) > 4 and all(compose.x_weight(t) <= 280 for t in long)
    assert long[0].endswith(f"(1/{len(long)})") and "https://s.example/" in long[-1]
    cjk = compose.x_thread({"copy": "日本語のテキスト" * 60})
    assert all(compose.x_weight(t) <= 280 for t in cjk)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            [
                "sale",
                "shop.example.com",
                "https://example.com/offer?x=1",
                "日本語",
                "👍🏽",
                "👨‍👩‍👧",
                "café",
                "naïve",
                "x" * 40,
                "🇫🇷",
                "€99",
            ]
        ),
        min_size=1,
        max_size=400,
    )
)
def test_every_tweet_of_a_thread_is_valid_for_x(words):
    """Cross-checked with twitter-text v3 itself: bare domains count as URLs, an emoji sequence as 2."""
    thread = compose.x_thread({"copy": " ".join(words), "links": {"x": "https://s.example/p"}})
    for tweet in thread:
        parsed = parse_tweet(tweet)
        assert parsed.valid and parsed.weightedLength <= 280, (tweet, parsed)
    if len(thread) > 1:  # nothing lost or reordered: the numbered parts give back the copy
        parts = [t.rsplit(" (", 1)[0] for t in thread]
        closing = "Learn more: https://s.example/p"
        parts = [p.removesuffix("\n\n" + closing) for p in parts if p != closing]
        assert " ".join(parts) == " ".join(words)
    caption = compose.instagram_caption({"title": "T", "copy": "x" * 5000, "cta_label": "Shop now"})
    assert len(caption) <= 2200 and caption.endswith("Shop now: link in bio.")
