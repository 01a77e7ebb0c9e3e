"""Dump what a cycle decides over the demo data, in a stable form, to compare two versions of the code.

    python scripts/dump_decisions.py > before.json     # on one commit
    python scripts/dump_decisions.py > after.json      # on another
    diff before.json after.json

A scratch database on the test server (TEST_DATABASE_URL, else 127.0.0.1:5432) is migrated, loaded
with the demo campaigns and two social accounts, and then: the analytics lists, a dry run, a real
cycle, the actions and opportunities it wrote. Ids and timestamps are left out (they differ on every
run); names renamed on purpose between versions are mapped to the current ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from benchlib import drop_database, scratch_database

from app.db.pool import _init_connection
from app.services import demo

# Renamed on purpose: old spelling → current one.
RENAMES = {
    "twitter": "x",
    "scale_budget": "scale",
    "blocked_code": "held_code",
    "blocked_reason": "held_reason",
}
VOLATILE = {
    "id",
    "cycle_id",
    "rule_id",
    "campaign_id",
    "action_id",
    "schedule_id",
    "created_at",
    "executed_at",
    "detected_at",
    "updated_at",
    "started_at",
    "finished_at",
    "measured_at",
    "opportunity_id",
}


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {RENAMES.get(k, k): stable(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, str):
        for old, new in RENAMES.items():
            value = value.replace(f"utm_source={old}", f"utm_source={new}")
        return RENAMES.get(value, value)
    if isinstance(value, float | Decimal):
        return str(round(Decimal(str(value)), 6))
    return value


async def dump(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    try:
        await demo.load(conn, 100.0)
        # Facebook and X (instagram stays out: the demo campaigns have no image); X was "twitter".
        for platform, older in (("facebook", "facebook"), ("x", "twitter")):
            insert = (
                "INSERT INTO social_accounts (platform, account_id, access_token_encrypted) "
                "VALUES ($1, $1 || '-1', '\\x00')"
            )
            try:
                await conn.execute(insert, platform)
            except asyncpg.CheckViolationError:
                await conn.execute(insert, older)
        out: dict[str, Any] = {}
        for name, query in (
            ("underperforming", "SELECT * FROM identify_underperforming_campaigns()"),
            ("scaling_candidates", "SELECT * FROM identify_scaling_candidates()"),
        ):
            rows = await conn.fetch(
                f"SELECT c.external_id, x.* FROM ({query}) x JOIN campaigns c ON c.id = x.campaign_id"
            )
            out[name] = sorted((stable(dict(r)) for r in rows), key=_key)
        dry = json.loads(
            await conn.fetchval("SELECT run_autonomous_operations_with_posting(true)::text")
        )
        out["dry_run"] = stable(dry)
        real = json.loads(
            await conn.fetchval("SELECT run_autonomous_operations_with_posting()::text")
        )
        out["cycle"] = stable({k: v for k, v in real.items() if k != "actions"})
        actions = await conn.fetch(
            """SELECT c.external_id, r.name AS rule_name, a.* FROM autonomous_actions a
               JOIN campaigns c ON c.id = a.campaign_id LEFT JOIN autonomous_rules r ON r.id = a.rule_id"""
        )
        out["actions"] = sorted((stable(dict(r)) for r in actions), key=_key)
        opportunities = await conn.fetch(
            """SELECT c.external_id, o.* FROM optimization_opportunities o
               JOIN campaigns c ON c.id = o.campaign_id"""
        )
        out["opportunities"] = sorted((stable(dict(r)) for r in opportunities), key=_key)
        schedules = await conn.fetch(
            """SELECT c.external_id, s.platforms, s.content, s.status FROM campaign_schedules s
               JOIN campaigns c ON c.id = s.campaign_id"""
        )
        out["schedules"] = sorted((stable(dict(r)) for r in schedules), key=_key)
        states = await conn.fetch("SELECT external_id, status, daily_budget FROM campaigns")
        out["campaigns"] = sorted((stable(dict(r)) for r in states), key=_key)
        return out
    finally:
        await conn.close()


def main() -> None:
    name = f"ao_dump_{uuid.uuid4().hex[:8]}"
    url, _ = scratch_database(name)
    try:
        result = asyncio.run(dump(url))
    finally:
        drop_database(name)
    json.dump(result, sys.stdout, indent=1, sort_keys=True, default=str)
    print()


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    main()
