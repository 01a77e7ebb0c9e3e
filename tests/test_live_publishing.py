"""The live publishers against a fake Graph/X server on 127.0.0.1 (real HTTP), faults included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from app.background.posts import dispatch_once
from app.core.crypto import TokenCipher
from app.db.pool import create_pool
from app.main import create_app
from app.services.publishers import compose
from app.services.publishers.live import LivePublisher
from tests.conftest import auth
from tests.fakeplatform import FakePlatform, Fault
from tests.scenario import campaign
from tests.servers import free_port, serve

TOKENS = {p: f"{p}-live-token-{uuid.uuid4().hex}" for p in ("facebook", "instagram", "x")}


@pytest.fixture
def fake():
    platform = FakePlatform()
    with serve(platform.app()) as url:
        platform.url = url
        yield platform


@pytest.fixture
def live(settings, fake):
    """The service over real HTTP (Instagram fetches its image), the live publisher pointed at the fake."""
    port = free_port()
    live_settings = settings.model_copy(
        update={
            "social_publisher": "live",
            "facebook_graph_url": f"{fake.url}/v21.0",
            "x_api_url": fake.url,
            "public_base_url": f"http://127.0.0.1:{port}",
            "port": port,
            "media_fetch_allow_private": True,  # the campaign images live on the local fake
        }
    )
    app = create_app(live_settings)
    with serve(app, port=port, lifespan="on") as url:
        yield live_settings, url


@pytest.fixture
async def world(live, fake, db):
    live_settings, url = live
    pool = await create_pool(live_settings.database_url, 1, 8)
    publisher = LivePublisher(
        live_settings.facebook_graph_url,
        live_settings.x_api_url,
        live_settings.base_url,
        timeout=1.0,
        poll_interval=0.01,
    )
    cipher = TokenCipher(live_settings.encryption_key())
    async with httpx.AsyncClient(base_url=url, headers=auth(), timeout=30) as client:
        for platform, token in TOKENS.items():
            r = await client.post(
                "/social-accounts",
                json={"platform": platform, "account_id": f"{platform}-77", "access_token": token},
            )
            assert r.status_code == 201
        yield client, pool, publisher, cipher
    await publisher.aclose()
    await pool.close()


async def _schedule(db, client, fake, copy: str) -> uuid.UUID:
    cid = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400)
    await db.execute(
        "UPDATE campaigns SET description = $2, image_url = $3 WHERE id = $1",
        cid,
        copy,
        f"{fake.url}/images/sample.png",
    )
    assert (await client.post(f"/campaigns/{cid}/post")).status_code == 201
    sid = await db.fetchval("SELECT id FROM campaign_schedules WHERE campaign_id = $1", cid)
    await db.execute(
        "UPDATE campaign_schedules SET scheduled_for = now() - interval '1 second' WHERE id = $1",
        sid,
    )
    return sid


async def _deliveries(db) -> dict[str, dict]:
    return {r["platform"]: dict(r) for r in await db.fetch("SELECT * FROM social_posts")}


def _posts(fake, platform):
    return [p for p in fake.posts if p["platform"] == platform]


LONG = " ".join(["Light fabrics, bright colours and easy fits for every day of the season."] * 6)


async def test_end_to_end_publishes_once_to_each_platform(world, db, fake):
    client, pool, publisher, cipher = world
    # A cycle schedules the high-CTR campaign (post rule), five minutes ahead.
    cid = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=400)
    await db.execute(
        "UPDATE campaigns SET description = $2, image_url = $3 WHERE id = $1",
        cid,
        LONG,
        f"{fake.url}/images/sample.png",
    )
    summary = (await client.post("/cycles")).json()
    assert summary["posted"] == 1, summary
    sid = await db.fetchval("SELECT id FROM campaign_schedules WHERE campaign_id = $1", cid)
    assert (await dispatch_once(pool, publisher, cipher)).claimed == 0  # not before the lead time
    assert fake.posts == []
    await db.execute(
        "UPDATE campaign_schedules SET scheduled_for = scheduled_for - interval '5 minutes'"
    )
    report = await dispatch_once(pool, publisher, cipher)
    assert report.outcomes == {"posted": 3}, await _deliveries(db)

    (fb,) = _posts(fake, "facebook")
    assert (
        "utm_source=facebook&utm_medium=social" in fb["link"]
        and "utm_content=autonomous_post" in fb["link"]
    )
    (container,) = _posts(fake, "instagram-container")
    (ig,) = _posts(fake, "instagram")
    assert ig["creation_id"] == container["id"] and container["caption"].endswith("link in bio.")
    (image,) = fake.images
    assert image["format"] == "JPEG" and image["content_type"] == "image/jpeg"
    assert 0.8 <= image["width"] / image["height"] <= 1.91 and image["width"] <= 1440
    thread = _posts(fake, "x")
    assert len(thread) >= 2 and all(compose.x_weight(t["text"]) <= 280 for t in thread)
    assert [t["reply_to"] for t in thread] == [None] + [t["id"] for t in thread[:-1]]
    assert "utm_source=x" in thread[-1]["text"]

    schedule = (await client.get(f"/schedules/{sid}")).json()
    assert schedule["status"] == "posted"
    ids = {d["platform"]: d["external_post_ids"] for d in schedule["posts"]}
    assert ids == {
        "facebook": [fb["id"]],
        "instagram": [ig["id"]],
        "x": [t["id"] for t in thread],
    }
    # Tokens went in headers or form bodies, never in a URL.
    for request in fake.requests:
        assert not any(token in request["path"] + request["query"] for token in TOKENS.values())
    assert (await dispatch_once(pool, publisher, cipher)).claimed == 0
    assert len(fake.posts) == 1 + 2 + len(thread)


async def test_429_with_a_reset_is_retried_after_it(world, db, fake):
    client, pool, publisher, cipher = world
    await _schedule(db, client, fake, "Short copy.")
    fake.faults.append(Fault("/2/tweets", "429", reset_in=120))
    await dispatch_once(pool, publisher, cipher)
    x = (await _deliveries(db))["x"]
    assert x["status"] == "pending" and x["attempts"] == 1 and "429" in x["last_error"]
    assert (x["next_attempt_at"] - datetime.now(UTC)).total_seconds() > 100  # not before the reset
    assert (await dispatch_once(pool, publisher, cipher)).claimed == 0
    await db.execute("UPDATE social_posts SET next_attempt_at = now() WHERE platform = 'x'")
    await dispatch_once(pool, publisher, cipher)
    assert (await _deliveries(db))["x"]["status"] == "posted"
    assert len(_posts(fake, "x")) == 1


async def test_500_before_acceptance_is_retried(world, db, fake):
    client, pool, publisher, cipher = world
    await _schedule(db, client, fake, "Short copy.")
    fake.faults.append(Fault("/feed", "500"))
    await dispatch_once(pool, publisher, cipher)
    fb = (await _deliveries(db))["facebook"]
    assert fb["status"] == "pending" and _posts(fake, "facebook") == []
    await db.execute("UPDATE social_posts SET next_attempt_at = now() WHERE platform = 'facebook'")
    await dispatch_once(pool, publisher, cipher)
    assert (await _deliveries(db))["facebook"]["status"] == "posted"
    assert len(_posts(fake, "facebook")) == 1


async def test_timeout_on_the_publishing_call_is_unknown_and_never_resent(world, db, fake):
    client, pool, publisher, cipher = world
    fake.hang_seconds = 2.0  # the publisher gives up after 1 s
    await _schedule(db, client, fake, "Short copy.")
    fake.faults.append(Fault("/feed", "timeout"))
    await dispatch_once(pool, publisher, cipher)
    fb = (await _deliveries(db))["facebook"]
    assert fb["status"] == "unknown" and "not resent" in fb["last_error"]
    assert len(_posts(fake, "facebook")) == 1  # the platform did accept it
    await db.execute("UPDATE social_posts SET next_attempt_at = now()")
    await dispatch_once(pool, publisher, cipher)
    assert len(_posts(fake, "facebook")) == 1


async def test_graph_190_marks_the_account_expired(world, db, fake):
    client, pool, publisher, cipher = world
    await _schedule(db, client, fake, "Short copy.")
    fake.faults.append(Fault("/feed", "token"))
    fake.faults.append(Fault("/2/tweets", "token"))
    await dispatch_once(pool, publisher, cipher)
    d = await _deliveries(db)
    assert d["facebook"]["status"] == "failed" and "190" in d["facebook"]["last_error"]
    assert d["x"]["status"] == "failed" and "401" in d["x"]["last_error"]
    accounts = {
        a["platform"]: a["status"] for a in (await client.get("/social-accounts")).json()["items"]
    }
    assert accounts == {"facebook": "expired", "x": "expired", "instagram": "active"}


def _worker(live_settings, fake_url: str):
    import os
    import subprocess
    import sys

    from app.db.migrations import PROJECT_ROOT

    env = {
        **os.environ,
        "DATABASE_URL": live_settings.database_url,
        "DATA_DIR": str(live_settings.data_dir),
        "SOCIAL_PUBLISHER": "live",
        "FACEBOOK_GRAPH_URL": f"{fake_url}/v21.0",
        "X_API_URL": fake_url,
        "PUBLIC_BASE_URL": live_settings.base_url,
        "DISPATCH_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--batch", "4"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_two_workers_and_a_killed_one_never_post_twice(world, live, db, fake):
    import asyncio
    import signal

    client, pool, publisher, cipher = world
    live_settings, _ = live
    titles = []
    for i in range(12):
        sid = await _schedule(db, client, fake, f"Offer number {i}.")
        titles.append(
            await db.fetchval(
                "SELECT c.title FROM campaign_schedules s JOIN campaigns c ON c.id = s.campaign_id WHERE s.id = $1",
                sid,
            )
        )
        await db.execute(
            "UPDATE campaign_schedules SET created_at = created_at - interval '2 days'"
        )
    fake.delay_seconds = 0.15
    first, second = _worker(live_settings, fake.url), _worker(live_settings, fake.url)
    await asyncio.sleep(2.0)
    first.send_signal(signal.SIGKILL)  # in the middle of a batch
    first.wait(timeout=10)
    third = _worker(live_settings, fake.url)
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        left = await db.fetchval(
            "SELECT count(*) FROM social_posts WHERE status = 'pending'"
            " OR (status = 'sending' AND updated_at > now() - interval '5 seconds')"
        )
        due = await db.fetchval("SELECT count(*) FROM campaign_schedules WHERE status = 'pending'")
        if left == 0 and due == 0:
            break
        await asyncio.sleep(0.5)
    for proc in (second, third):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    # Every post reached the platform at most once; the ones the killed worker had in flight stay
    # `sending` (they become `unknown` after 10 minutes), everything else posted.
    for title in titles:
        assert sum(title in (p.get("message") or "") for p in _posts(fake, "facebook")) <= 1, title
        assert sum(title in (p.get("text") or "") for p in _posts(fake, "x")) <= 1, title
    creations = [p["creation_id"] for p in _posts(fake, "instagram")]
    assert len(creations) == len(set(creations))
    statuses = dict(await db.fetch("SELECT status, count(*) FROM social_posts GROUP BY status"))
    assert set(statuses) <= {"posted", "sending"} and statuses.get("posted", 0) >= 30, statuses
    posted_ids = await db.fetchval("SELECT count(*) FROM social_posts WHERE status = 'posted'")
    platform_posts = (
        len(_posts(fake, "facebook")) + len(_posts(fake, "x")) + len(_posts(fake, "instagram"))
    )
    assert platform_posts - posted_ids <= statuses.get(
        "sending", 0
    )  # only in-flight sends are unconfirmed


async def test_raw_tokens_appear_nowhere(world, live, db, fake, caplog):
    """After a full run (connect, cycle, post, faults, errors), the token bytes are in no table, no
    response body or header, and no log line."""
    import logging

    caplog.set_level(logging.DEBUG)
    client, pool, publisher, cipher = world
    responses: list[str] = []
    await _schedule(db, client, fake, LONG)
    fake.faults.extend([Fault("/2/tweets", "token"), Fault("/feed", "500")])
    await dispatch_once(pool, publisher, cipher)
    await db.execute("UPDATE social_posts SET next_attempt_at = now()")
    await dispatch_once(pool, publisher, cipher)
    for path in ("/social-accounts", "/schedules", "/actions", "/stats", "/cycles"):
        r = await client.get(path)
        responses.append(r.text + repr(dict(r.headers)))
    r = await client.post(
        "/social-accounts",
        json={
            "platform": "facebook",
            "account_id": "facebook-77",
            "access_token": TOKENS["facebook"],
        },
    )
    responses.append(r.text)  # a 409 must not echo the token either
    responses.append((await client.post("/cycles")).text)
    tables = [
        r["tablename"]
        for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    dump = "".join(
        [
            await db.fetchval(f"SELECT coalesce(string_agg(t::text, ''), '') FROM {t} t")
            for t in tables
        ]
    )
    raw = b"".join(
        bytes(r["access_token_encrypted"])
        for r in await db.fetch("SELECT access_token_encrypted FROM social_accounts")
    )
    for token in TOKENS.values():
        assert token not in dump and token.encode() not in raw
        assert token.encode().hex() not in dump  # bytea is dumped as hex
        assert not any(token in text for text in responses)
        assert token not in caplog.text
