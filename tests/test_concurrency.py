"""Concurrent ingests, trigger evaluations, cycles, rollbacks and reactivations on one portfolio: row
locks are taken in one order everywhere (campaigns by id, then what refers to them), so none of them
deadlocks another, and no caller is ever answered 500 (a conflict that happens anyway is retried once,
then answered 503 with Retry-After). Bounded: a fixed number of requests on loopback."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from app.db.pool import claims_transaction, create_pool
from app.db.retry import DatabaseBusy, in_savepoint, retrying
from app.main import create_app
from tests.conftest import auth
from tests.scenario import campaign

INGESTS = 240
CAMPAIGNS = 40
BATCH = 25
LISTENER = {"role": "service_role", "sub": "test-listener"}


async def _deadlocks(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
    )


async def test_concurrent_ingest_evaluation_cycle_rollback_and_reactivation_never_answer_500(
    settings, db
):
    ids = []
    for i in range(CAMPAIGNS):
        if i % 3 == 0:  # losers: Critical ROI Pause (a trigger rule) pauses them
            ids.append(await campaign(db, spend=200, revenue=20, budget=50))
        else:  # winners: the scale rules raise them
            ids.append(
                await campaign(db, hours=200, spend=500, revenue=3000, conversions=80, budget=50)
            )
    external = [
        await db.fetchval("SELECT external_id FROM campaigns WHERE id = $1", c) for c in ids
    ]
    before = await _deadlocks(db)
    statuses: list[int] = []
    evaluation_errors: list[str] = []
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    rng = random.Random(7)
    app = create_app(settings.model_copy(update={"db_pool_max_size": 16}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=auth(), timeout=60
        ) as client:
            listener_pool = await create_pool(settings.database_url, 1, 3)  # type: ignore[arg-type]
            done = asyncio.Event()

            async def ingest(worker: int) -> None:
                for n in range(worker, INGESTS, 4):
                    chosen = rng.sample(external, BATCH)  # overlapping batches, in any order
                    hour = start + timedelta(hours=n % 40)
                    rows = [
                        {
                            "external_id": e,
                            "period_start": hour.isoformat(),
                            "period_end": (hour + timedelta(hours=1)).isoformat(),
                            "impressions": 1000,
                            "clicks": 20,
                            "conversions": rng.randint(0, 3),
                            "spend": 10,
                            "revenue": rng.choice([0, 1, 60]),
                        }
                        for e in chosen
                    ]
                    r = await client.post("/metrics", json={"rows": rows})
                    statuses.append(r.status_code)
                done.set()

            async def evaluate() -> None:
                while not done.is_set():
                    try:
                        async with claims_transaction(listener_pool, LISTENER) as conn:
                            await conn.fetchval("SELECT evaluate_metric_triggers(500)")
                    except Exception as exc:  # a deadlock here would be the listener's failure
                        evaluation_errors.append(
                            f"{type(exc).__name__}: {exc} {getattr(exc, 'detail', '')}"
                        )
                    await asyncio.sleep(0)

            async def cycles() -> None:
                while not done.is_set():
                    r = await client.post("/cycles", json={})
                    statuses.append(r.status_code)
                    await asyncio.sleep(0.05)

            async def rollbacks() -> None:
                while not done.is_set():
                    r = await client.get("/actions", params={"status": "executed", "limit": 5})
                    statuses.append(r.status_code)
                    for action in r.json().get("items", []):
                        if action["action_type"] in ("pause", "scale"):
                            rb = await client.post(
                                f"/actions/{action['id']}/rollback", json={"force": True}
                            )
                            statuses.append(rb.status_code)
                    await asyncio.sleep(0.02)

            async def reactivations() -> None:
                while not done.is_set():
                    for cid in rng.sample(ids, 5):
                        r = await client.patch(f"/campaigns/{cid}", json={"status": "active"})
                        statuses.append(r.status_code)
                    await asyncio.sleep(0.02)

            try:
                await asyncio.wait_for(
                    asyncio.gather(
                        *(ingest(w) for w in range(4)),
                        evaluate(),
                        evaluate(),
                        cycles(),
                        rollbacks(),
                        reactivations(),
                    ),
                    240,
                )
            finally:
                await listener_pool.close()
    # The pools are closed: every backend has reported its statistics on the way out.
    await asyncio.sleep(0.5)
    assert statuses.count(500) == 0, sorted(set(statuses))
    assert set(statuses) <= {200, 201, 409, 503}, sorted(set(statuses))
    assert statuses.count(200) >= INGESTS // 2
    assert evaluation_errors == []
    assert await _deadlocks(db) - before == 0
    assert await db.fetchval("SELECT count(*) FROM autonomous_actions") > 0


async def test_a_conflict_is_retried_once_then_the_caller_is_told_to_come_back(settings, db_url):
    """A real deadlock (two transactions taking two rows in opposite orders) is retried; one that
    happens again on the retry is DatabaseBusy, which the API answers 503 with Retry-After."""
    conn_a = await asyncpg.connect(db_url)
    conn_b = await asyncpg.connect(db_url)
    try:
        await conn_a.execute("CREATE TABLE race (id int PRIMARY KEY, n int)")
        await conn_a.execute("INSERT INTO race VALUES (1, 0), (2, 0)")
        tries: list[int] = []

        async def clash(times: int) -> str:
            """conn_a takes 1 then 2 while conn_b takes 2 then 1; conn_a waits first, so it is the
            one the deadlock detector stops (the first ``times`` tries)."""
            tries.append(1)
            if len(tries) > times:
                async with conn_a.transaction():
                    await conn_a.execute("UPDATE race SET n = n + 1 WHERE id = 1")
                return "done"
            async with conn_b.transaction():
                await conn_b.execute("UPDATE race SET n = n + 1 WHERE id = 2")

                async def then_one() -> None:
                    await asyncio.sleep(0.3)
                    await conn_b.execute("UPDATE race SET n = n + 1 WHERE id = 1")

                other = asyncio.create_task(then_one())
                try:
                    async with conn_a.transaction():
                        await conn_a.execute("UPDATE race SET n = n + 1 WHERE id = 1")
                        await conn_a.execute("UPDATE race SET n = n + 1 WHERE id = 2")
                finally:
                    await other
            return "no deadlock"

        assert await retrying(lambda: clash(1)) == "done"
        assert len(tries) == 2
        tries.clear()
        try:
            await retrying(lambda: clash(2))
            raise AssertionError("two deadlocks in a row must be DatabaseBusy")
        except DatabaseBusy as busy:
            assert isinstance(busy.__cause__, asyncpg.DeadlockDetectedError)
        assert len(tries) == 2

        # inside a request's transaction, a savepoint is what is retried
        async with conn_a.transaction():
            await conn_a.execute("UPDATE race SET n = 100 WHERE id = 1")
            got = await in_savepoint(
                conn_a, lambda: conn_a.fetchval("SELECT n FROM race WHERE id = 1")
            )
            assert got == 100
    finally:
        await conn_a.close()
        await conn_b.close()

    app = create_app(settings)

    @app.get("/_busy")
    async def _busy() -> dict[str, Any]:
        raise DatabaseBusy()

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get("/_busy")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.headers["content-type"] == "application/problem+json"
    assert "concurrent" in json.loads(r.text)["detail"]
