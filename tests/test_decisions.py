"""Each built-in rule at and around its thresholds, exclusivity, guardrails."""

from __future__ import annotations

import pytest

from tests.scenario import actions_of, campaign, connect_account, cycle, state


async def _no_scale_confidence_floor(db) -> None:
    """Isolates the rules' own thresholds from the confidence guardrail (tested on its own)."""
    await db.execute("UPDATE autonomous_settings SET min_scale_confidence = 0")
    await db.execute("UPDATE autonomous_rules SET min_confidence = 0")


# --- Critical ROI Pause: roi < 0.5 and spend >= 50 -------------------------------------------------


@pytest.mark.parametrize(
    ("revenue", "spend", "paused"),
    [
        (49.0, 100, True),  # ROI 0.49
        (49.99, 100, True),
        (50.0, 100, False),  # ROI 0.5 exactly: not below
        (24.0, 49.99, False),  # spend just under 50
        (24.0, 50.0, True),  # spend exactly 50
    ],
)
async def test_critical_roi_pause_thresholds(db, revenue, spend, paused):
    # 10 h running: too young for Low ROI Pause, so only the critical rule can act.
    cid = await campaign(db, hours=10, spend=spend, revenue=revenue, conversions=3)
    summary = await cycle(db)
    assert (await state(db, cid))[0] == ("paused" if paused else "active")
    acts = await actions_of(db, cid)
    if paused:
        assert summary["paused"] == 1
        assert [a["rule_name"] for a in acts] == ["Critical ROI Pause"]
        assert acts[0]["status"] == "executed" and acts[0]["previous_state"]["status"] == "active"
        assert acts[0]["new_state"]["status"] == "paused"
        assert f", spend ${spend:,.2f} (Critical ROI Pause: " in acts[0]["reason"]
    else:
        assert acts == []


# --- Low ROI Pause: roi < 1 (lifetime and last 48 h), spend >= 50, hours_running >= 48 ------------


@pytest.mark.parametrize(
    ("hours", "revenue", "recent_revenue", "paused"),
    [
        (48, 90, 20, True),  # ROI 0.9, last 48 h 0.67
        (47.9, 90, 20, False),  # not yet 48 h
        (72, 100, 20, False),  # lifetime ROI exactly 1.0
        (72, 99, 20, True),
        (72, 90, 30, False),  # recovering: last 48 h ROI 1.0
        (72, 90, 29.7, True),  # last 48 h ROI 0.99
    ],
)
async def test_low_roi_pause_thresholds(db, hours, revenue, recent_revenue, paused):
    cid = await campaign(
        db,
        hours=hours,
        spend=100,
        revenue=revenue,
        conversions=5,
        recent={"spend": 30, "revenue": recent_revenue, "conversions": 1},
    )
    await cycle(db)
    assert (await state(db, cid))[0] == ("paused" if paused else "active")
    names = [a["rule_name"] for a in await actions_of(db, cid)]
    assert names == (["Low ROI Pause"] if paused else [])


async def test_low_roi_spend_threshold(db):
    under = await campaign(db, hours=72, spend=49.99, revenue=40, conversions=2)
    at = await campaign(db, hours=72, spend=50, revenue=40, conversions=2)
    await cycle(db)
    assert (await state(db, under))[0] == "active"
    assert (await state(db, at))[0] == "paused"


# --- Scale rules: roi >= 4 (x2) / roi >= 3 (x1.5), conversions >= 10, hours_running >= 24 --------


@pytest.mark.parametrize(
    ("revenue", "conversions", "hours", "expected_budget", "rule"),
    [
        (400, 10, 24, 200.0, "Aggressive Scale"),  # ROI 4.0 exactly
        (399.9, 10, 24, 150.0, "High ROI Scale"),  # just under 4: the 1.5x rule
        (300, 10, 24, 150.0, "High ROI Scale"),  # ROI 3.0 exactly
        (299.9, 10, 24, 100.0, None),  # just under 3
        (500, 9, 24, 100.0, None),  # 9 conversions
        (500, 10, 23.9, 100.0, None),  # not yet 24 h
    ],
)
async def test_scale_thresholds(db, revenue, conversions, hours, expected_budget, rule):
    await _no_scale_confidence_floor(db)
    cid = await campaign(
        db, hours=hours, spend=100, revenue=revenue, conversions=conversions, budget=100
    )
    await cycle(db)
    assert await state(db, cid) == ("active", expected_budget)
    acts = await actions_of(db, cid)
    assert [a["rule_name"] for a in acts] == ([rule] if rule else [])
    if rule:
        assert acts[0]["previous_state"]["daily_budget"] == 100
        assert acts[0]["new_state"]["daily_budget"] == expected_budget


async def test_two_matching_rules_only_the_higher_priority_acts(db):
    # ROI 6 with 60 conversions matches both scale rules, confidently.
    cid = await campaign(db, hours=30, spend=100, revenue=600, conversions=60, budget=80)
    summary = await cycle(db)
    acts = await actions_of(db, cid)
    assert [a["rule_name"] for a in acts] == ["Aggressive Scale"]
    assert summary["scaled"] == 1
    assert await state(db, cid) == ("active", 160.0)


async def test_pause_outranks_scale_for_one_campaign(db):
    # A custom scale rule that also matches a losing campaign: the pause (priority 100) wins.
    await db.execute(
        """INSERT INTO autonomous_rules (name, rule_type, priority, conditions, action)
           VALUES ('Scale anything', 'scale', 10, '{"all": [{"metric": "spend", "op": "gt", "value": 0}]}',
                   '{"type": "scale_budget", "factor": 1.2}')"""
    )
    cid = await campaign(db, hours=10, spend=100, revenue=10, conversions=1)
    await cycle(db)
    assert [a["action_type"] for a in await actions_of(db, cid)] == ["pause"]


async def test_max_budget_caps_and_capped_campaign_is_not_scaled(db):
    await _no_scale_confidence_floor(db)
    partly = await campaign(
        db, hours=30, spend=100, revenue=600, conversions=60, budget=100, max_budget=130
    )
    capped = await campaign(
        db, hours=30, spend=100, revenue=600, conversions=60, budget=130, max_budget=130
    )
    summary = await cycle(db)
    assert await state(db, partly) == ("active", 130.0)
    assert await state(db, capped) == ("active", 130.0)
    assert await actions_of(db, capped) == []
    held = {h["campaign_id"]: h["held_reason"] for h in summary["held_back"]}
    assert held[str(capped)].startswith("capped")
    rows = await db.fetch(
        "SELECT campaign_id, capped, proposed_budget FROM identify_scaling_candidates()"
    )
    assert {r["campaign_id"]: r["capped"] for r in rows}[capped] is True


async def test_scale_factor_is_clamped_to_the_guardrail(db):
    await _no_scale_confidence_floor(db)
    await db.execute("UPDATE autonomous_settings SET max_scale_factor = 3")
    await db.execute(
        """INSERT INTO autonomous_rules (name, rule_type, priority, conditions, action)
           VALUES ('Triple', 'scale', 99, '{"all": [{"metric": "roi", "op": "gte", "value": 5}]}',
                   '{"type": "scale_budget", "factor": 3}')"""
    )
    await db.execute(
        "UPDATE autonomous_settings SET max_scale_factor = 2"
    )  # lowered afterwards, by SQL
    cid = await campaign(db, hours=30, spend=100, revenue=600, conversions=60, budget=100)
    await cycle(db)
    assert await state(db, cid) == ("active", 200.0)


async def test_cooldown_blocks_a_second_scale(db):
    cid = await campaign(db, hours=30, spend=100, revenue=600, conversions=60, budget=100)
    await cycle(db)
    assert await state(db, cid) == ("active", 200.0)
    second = await cycle(db)
    assert await state(db, cid) == ("active", 200.0)
    assert len(await actions_of(db, cid)) == 1
    held = {h["campaign_id"]: h["held_reason"] for h in second["held_back"]}
    assert held[str(cid)].startswith("cooldown")


@pytest.mark.parametrize(("hours_ago", "scaled"), [(23.9, False), (24.1, True)])
async def test_cooldown_expires_after_the_rules_hours(db, hours_ago, scaled):
    cid = await campaign(db, hours=30, spend=100, revenue=600, conversions=60, budget=100)
    await db.execute(
        """INSERT INTO autonomous_actions (campaign_id, action_type, reason, status, created_at, executed_at)
           VALUES ($1, 'scale', 'earlier scale', 'executed', now() - make_interval(secs => $2::float8 * 3600),
                   now() - make_interval(secs => $2::float8 * 3600))""",
        cid,
        hours_ago,
    )
    await cycle(db)
    assert (await state(db, cid))[1] == (200.0 if scaled else 100.0)


async def test_paused_and_draft_campaigns_are_untouched(db):
    paused = await campaign(db, status="paused", hours=100, spend=500, revenue=10, conversions=1)
    draft = await campaign(db, status="draft", hours=100, spend=100, revenue=900, conversions=90)
    completed = await campaign(
        db, status="completed", hours=100, spend=500, revenue=10, conversions=1
    )
    summary = await cycle(db)
    assert summary["actions"] == []
    for cid, st in ((paused, "paused"), (draft, "draft"), (completed, "completed")):
        assert (await state(db, cid))[0] == st
        assert await actions_of(db, cid) == []


async def test_confidence_floor_holds_scaling_back(db):
    # ROI 3.3 over 12 conversions: the rule matches, but P(true ROI >= 3) is only about 0.66.
    weak = await campaign(db, hours=30, spend=100, revenue=330, conversions=12, budget=100)
    summary = await cycle(db)
    assert await state(db, weak) == ("active", 100.0)
    held = {h["campaign_id"]: h for h in summary["held_back"]}
    assert held[str(weak)]["held_reason"].startswith("confidence")
    assert held[str(weak)]["confidence"] < 0.75


async def test_falls_to_the_next_rule_when_the_first_lacks_confidence(db):
    # ROI 4.2 over 40 conversions: P(>= 4) ≈ 0.62 fails the floor; P(>= 3) ≈ 0.98 passes.
    cid = await campaign(db, hours=30, spend=100, revenue=420, conversions=40, budget=100)
    await cycle(db)
    assert [a["rule_name"] for a in await actions_of(db, cid)] == ["High ROI Scale"]
    assert await state(db, cid) == ("active", 150.0)


async def test_expected_impact_formulas(db):
    # Pause: daily loss avoided = daily spend × (1 − ROI); spend 140 over the last 7 days (7 days run).
    loser = await campaign(db, hours=24 * 7, spend=140, revenue=28, conversions=2)
    winner = await campaign(db, hours=30, spend=100, revenue=600, conversions=60, budget=50)
    await cycle(db)
    pause = (await actions_of(db, loser))[0]
    assert pause["expected_impact"]["daily_spend"] == pytest.approx(20.0)
    assert pause["expected_impact"]["daily_loss_avoided"] == pytest.approx(20.0 * (1 - 0.2))
    assert "$16.00" in pause["expected_impact"]["sentence"]
    scale = (await actions_of(db, winner))[0]
    assert scale["expected_impact"]["added_daily_revenue"] == pytest.approx((100 - 50) * 6.0)


async def test_post_rule_schedules_with_utm_links(db):
    await connect_account(db, "facebook")
    await connect_account(db, "x")
    await connect_account(db, "instagram", expires_in_hours=-1)  # expired: skipped
    cid = await campaign(
        db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=300, impressions=10_000
    )
    summary = await cycle(db)
    assert summary["posted"] == 1
    sched = await db.fetchrow("SELECT * FROM campaign_schedules WHERE campaign_id = $1", cid)
    assert sorted(sched["platforms"]) == ["facebook", "x"]
    delay = await db.fetchval(
        "SELECT extract(epoch FROM $1::timestamptz - now())", sched["scheduled_for"]
    )
    assert 299 <= float(delay) <= 301

    content = sched["content"]
    ext = await db.fetchval("SELECT external_id FROM campaigns WHERE id = $1", cid)
    assert content["links"]["x"] == (
        f"https://shop.example.com/offer?ref=ads&utm_source=x&utm_medium=social&utm_campaign={ext}"
        "&utm_content=autonomous_post"
    )
    post = [a for a in await actions_of(db, cid) if a["action_type"] == "post"]
    assert len(post) == 1 and post[0]["new_state"]["schedule_id"] == str(sched["id"])
    # 24 h spacing: the next cycle does not post again.
    again = await cycle(db)
    assert again["posted"] == 0


@pytest.mark.parametrize(
    ("clicks", "conversions", "days", "posted"),
    [(300, 3, 8, True), (200, 3, 8, False), (300, 0, 8, False), (300, 3, 6.9, False)],
)
async def test_post_rule_thresholds(db, clicks, conversions, days, posted):
    await connect_account(db, "facebook")
    await campaign(
        db,
        hours=24 * days,
        spend=100,
        revenue=150,
        conversions=conversions,
        clicks=clicks,
        impressions=10_000,
    )
    assert (await cycle(db))["posted"] == (1 if posted else 0)


async def test_no_post_without_a_valid_account_and_not_when_paused(db):
    cid = await campaign(db, hours=24 * 8, spend=100, revenue=150, conversions=3, clicks=300)
    summary = await cycle(db)
    assert summary["posted"] == 0
    assert "no connected social account" in summary["posting_note"]
    await connect_account(db, "facebook")
    # A high-CTR campaign losing money is paused in the same cycle, so it is not posted.
    loser = await campaign(db, hours=24 * 8, spend=100, revenue=20, conversions=3, clicks=300)
    summary = await cycle(db)
    assert summary["paused"] == 1 and summary["posted"] == 1 and summary["posting_note"] is None
    assert [a["action_type"] for a in await actions_of(db, loser)] == ["pause"]
    assert [a["action_type"] for a in await actions_of(db, cid)] == ["post"]


async def test_actual_impact_is_measured_after_the_window(db):
    cid = await campaign(db, hours=24 * 6, spend=0, revenue=0, conversions=0)
    executed = await db.fetchval("SELECT now() - interval '73 hours'")
    # before the action: 3 days at $100/day; after: $10/day as the campaign winds down
    from datetime import timedelta

    rows = []
    for d in range(1, 4):
        start = executed - timedelta(days=d)
        rows.append((start, 100, 10))
    for d in range(3):
        rows.append((executed + timedelta(days=d), 10, 1))
    await db.executemany(
        "INSERT INTO campaign_metrics (campaign_id, period_start, period_end, spend, revenue)"
        " VALUES ($1, $2::timestamptz, $2::timestamptz + interval '1 day', $3, $4) ON CONFLICT DO NOTHING",
        [(cid, s, sp, rv) for s, sp, rv in rows],
    )
    await db.execute(
        """INSERT INTO autonomous_actions (campaign_id, action_type, reason, status, created_at, executed_at,
                                           new_state, previous_state)
           VALUES ($1, 'pause', 'old pause', 'executed', $2, $2, '{"status": "paused"}', '{"status": "active"}')""",
        cid,
        executed,
    )
    await db.execute("UPDATE campaigns SET status = 'paused' WHERE id = $1", cid)
    summary = await cycle(db)
    assert summary["impacts_measured"] == 1
    impact = (await actions_of(db, cid))[0]["actual_impact"]
    assert impact["before"]["spend_per_day"] == pytest.approx(100.0)
    assert impact["after"]["spend_per_day"] == pytest.approx(10.0)
    assert impact["profit_per_day_change"] == pytest.approx((1 - 10) - (10 - 100))
    assert (await cycle(db))["impacts_measured"] == 0  # measured once
