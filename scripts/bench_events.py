"""Events benchmark: from new metrics to the action, and to the webhook's arrival.

The service runs as `make run` starts it (one process, the scheduler on, so the trigger listener and the
webhook sender run inside it; the cron slot is set out of reach), against a scratch database. A local
receiver on 127.0.0.1 (a thread of this process) notes when each webhook arrives. Each measured ingest
takes a campaign below Critical ROI Pause (a trigger rule); latencies start when the `POST /metrics`
response arrives:

- to the action: when the pause's row in ``autonomous_actions`` is first visible (polled every 2 ms);
- to the webhook: when its ``action.executed`` delivery reaches the receiver.

First ``--singles`` ingests of one campaign each, one after the other; then ``--batches`` batches of
``--batch-rows`` rows (one row per campaign, every campaign crossing). Deliveries/s is measured over each
batch's webhooks, from the first arrival to the last.

    .venv/bin/python scripts/bench_events.py [--singles 200] [--batches 5] [--batch-rows 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from benchlib import (
    BENCH_SECRET,
    ROOT,
    drop_database,
    machine,
    scratch_database,
    start_server,
    stop_server,
    write_section,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.core.security import mint_token
from app.db.pool import _init_connection
from tests.servers import serve

NAME = "ao_bench_events"


class Receiver:
    """Notes the arrival time of each webhook, by the campaign its event names."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def hook(self, request: Request) -> Response:
        body = json.loads(await request.body())
        at = time.time()
        if body.get("type") == "action.executed":
            with self.lock:
                self.arrived.setdefault(body["data"]["campaign_id"], at)
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(campaign_id: str, day: int, spend: float, revenue: float) -> dict[str, Any]:
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)
    return {
        "campaign_id": campaign_id,
        "period_start": start.isoformat(),
        "period_end": (start + timedelta(days=1)).isoformat(),
        "impressions": 5000,
        "clicks": 100,
        "conversions": 1,
        "spend": spend,
        "revenue": revenue,
    }


async def setup(url: str, count: int) -> list[str]:
    """``count`` active campaigns, each with a first day at ROI 3 on 30 spent (below every rule's
    spend floor, so nothing acts on them until the measured rows arrive)."""
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    try:
        ids = await conn.fetch(
            """INSERT INTO campaigns (external_id, title, status, daily_budget, started_at)
               SELECT 'events-' || g, 'Events ' || g, 'active', 100, now() - interval '30 days'
               FROM generate_series(1, $1) g RETURNING id""",
            count,
        )
        campaign_ids = [str(r["id"]) for r in ids]
        rows = [row(cid, 0, 30, 90) for cid in campaign_ids]
        await conn.execute("SELECT ingest_campaign_metrics($1::text::jsonb)", json.dumps(rows))
        # Evaluated now, so the measured ingests start from an empty queue.
        while (await conn.fetchval("SELECT evaluate_metric_triggers(5000)"))["evaluated"]:
            pass
        await conn.execute("VACUUM ANALYZE")
        return campaign_ids
    finally:
        await conn.close()


async def wait_visible(
    conn: asyncpg.Connection, ids: list[str], seconds: float = 60
) -> dict[str, float]:
    """When each campaign's action row was first seen (polled every 2 ms)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + seconds
    while len(seen) < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(seen)} of {len(ids)} actions appeared")
        found = await conn.fetch(
            "SELECT campaign_id::text FROM autonomous_actions WHERE campaign_id = ANY($1::uuid[])"
            " AND action_type = 'pause'",
            [i for i in ids if i not in seen],
        )
        at = time.time()
        for r in found:
            seen.setdefault(r["campaign_id"], at)
        if len(seen) < len(ids):
            await asyncio.sleep(0.002)
    return seen


async def wait_arrived(
    receiver: Receiver, ids: list[str], seconds: float = 120
) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    while True:
        with receiver.lock:
            got = {i: receiver.arrived[i] for i in ids if i in receiver.arrived}
        if len(got) == len(ids):
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(got)} of {len(ids)} webhooks arrived")
        await asyncio.sleep(0.002)


async def run(args: argparse.Namespace) -> str:
    url, kind = scratch_database(NAME)
    total = args.singles + args.batches * args.batch_rows
    ids = await setup(url, total)
    receiver = Receiver()
    data_dir = ROOT / ".data" / "bench-events"
    with serve(receiver.app()) as receiver_url:
        proc, base = start_server(
            url,
            {
                "DATA_DIR": str(data_dir),
                "SCHEDULER_ENABLED": "true",
                "CYCLE_CRON": "0 0 1 1 *",
                "MEDIA_FETCH_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
            },
        )
        token = mint_token(BENCH_SECRET, "authenticated", "admin", 3600)
        conn = await asyncpg.connect(url)
        try:
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:
                r = await client.post(
                    "/webhooks",
                    json={"url": f"{receiver_url}/hook", "event_types": ["action.executed"]},
                )
                r.raise_for_status()
                singles = ids[: args.singles]
                single_action: list[float] = []
                single_hook: list[float] = []
                for cid in singles:
                    r = await client.post("/metrics", json={"rows": [row(cid, 1, 300, 10)]})
                    r.raise_for_status()
                    answered = time.time()
                    seen = await wait_visible(conn, [cid])
                    arrived = await wait_arrived(receiver, [cid])
                    single_action.append(seen[cid] - answered)
                    single_hook.append(arrived[cid] - answered)
                batch_action: list[float] = []
                batch_hook: list[float] = []
                batch_last_action: list[float] = []
                batch_last_hook: list[float] = []
                rates: list[float] = []
                for b in range(args.batches):
                    start = args.singles + b * args.batch_rows
                    chunk = ids[start : start + args.batch_rows]
                    r = await client.post(
                        "/metrics", json={"rows": [row(cid, 1, 300, 10) for cid in chunk]}
                    )
                    r.raise_for_status()
                    answered = time.time()
                    seen = await wait_visible(conn, chunk)
                    arrived = await wait_arrived(receiver, chunk)
                    batch_action += [seen[c] - answered for c in chunk]
                    batch_hook += [arrived[c] - answered for c in chunk]
                    batch_last_action.append(max(seen.values()) - answered)
                    batch_last_hook.append(max(arrived.values()) - answered)
                    span = max(arrived.values()) - min(arrived.values())
                    rates.append(len(chunk) / span if span > 0 else float("inf"))
                cycles = await conn.fetchrow(
                    "SELECT count(*) AS n, sum(scope) AS scope, count(*) FILTER"
                    " (WHERE status <> 'succeeded') AS bad FROM autonomous_cycles"
                    " WHERE trigger = 'metrics'"
                )
                attempts = await conn.fetchrow(
                    "SELECT count(*) AS n, count(*) FILTER (WHERE error IS NULL) AS ok"
                    " FROM webhook_attempts"
                )
        finally:
            await conn.close()
            stop_server(proc)
    drop_database(NAME)

    def ms(v: float) -> str:
        return f"{v * 1000:,.0f} ms"

    met = "met" if pct(single_action, 0.99) <= 1 and pct(batch_action, 0.99) <= 1 else "NOT met"
    return f"""## Events: metrics → action → webhook (`scripts/bench_events.py`)

{machine()}; PostgreSQL on the {kind} server; the service as `make run` starts it (one process, the
trigger listener and webhook sender inside it), a local receiver answering 204. Latencies start at the
`POST /metrics` response; "action" is the pause's audit row first visible to another connection (2 ms
polling), "webhook" its `action.executed` delivery at the receiver. Every measured row takes its campaign
below Critical ROI Pause (a trigger rule).

| ingest | count | action p50 | action p99 | webhook p50 | webhook p99 |
|---|---:|---:|---:|---:|---:|
| 1 campaign, one after another | {len(single_action)} | {ms(pct(single_action, 0.5))} | {ms(pct(single_action, 0.99))} | {ms(pct(single_hook, 0.5))} | {ms(pct(single_hook, 0.99))} |
| batches of {args.batch_rows:,} rows (per campaign) | {len(batch_action):,} | {ms(pct(batch_action, 0.5))} | {ms(pct(batch_action, 0.99))} | {ms(pct(batch_hook, 0.5))} | {ms(pct(batch_hook, 0.99))} |

- Target p99 ≤ 1 s from the response to the action: **{met}**.
- Batches of {args.batch_rows:,}: the last action of a batch after {ms(statistics.median(batch_last_action))}
  (median over {args.batches}, worst {ms(max(batch_last_action))}); its last webhook after
  {ms(statistics.median(batch_last_hook))} (worst {ms(max(batch_last_hook))}).
- Webhook deliveries: {statistics.median(rates):,.0f}/s (median over the batches, first to last arrival;
  worst {min(rates):,.0f}/s), {attempts["ok"]:,} delivered in {attempts["n"]:,} attempts.
- The listener recorded {cycles["n"]:,} `metrics` cycles over {cycles["scope"] or 0:,} campaigns
  ({cycles["bad"]} not succeeded).

Reproduce: `.venv/bin/python scripts/bench_events.py --singles {args.singles} --batches {args.batches}
--batch-rows {args.batch_rows}`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print, do not update the report")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    print(report)
    if not args.no_write:
        write_section("events", report)


if __name__ == "__main__":
    main()
