"""The OpenAPI document tells the truth: problem responses declared as application/problem+json on
every operation that can give them, nullability as the API behaves, the rule language as the database
defines it; and schemathesis, with all its checks, finds nothing against the running service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.main import create_app
from app.models import rule_language
from app.models.campaigns import CampaignUpdate
from app.models.rules import RuleUpdate
from app.services import demo
from tests.conftest import token
from tests.servers import serve

PROBLEM = "application/problem+json"
TESTS = Path(__file__).parent


def _operations(settings):
    schema = create_app(settings).openapi()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_problem_response_is_declared_as_problem_json(settings):
    seen = 0
    for path, method, operation in _operations(settings):
        responses = operation["responses"]
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM], (method, path, status)
        expected = set()
        if operation.get("security"):
            expected |= {"401", "403"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"413", "422"}
        if (method, path) not in {("get", "/healthz"), ("get", "/metrics")}:
            expected.add("503")
        assert expected <= set(responses), (method, path, expected - set(responses))
        seen += 1
    assert seen >= 35


def test_nullable_fields_are_those_that_accept_null():
    campaign = CampaignUpdate.model_json_schema()["properties"]
    for field in ("title", "status", "daily_budget"):
        assert "anyOf" not in campaign[field] and campaign[field].get("type") != "null"
    assert {"type": "null"} in campaign["description"]["anyOf"]
    rule = RuleUpdate.model_json_schema()["properties"]
    assert "rule_type" not in rule
    for field in ("name", "is_active", "priority", "min_confidence", "cooldown_hours"):
        assert "anyOf" not in rule[field], field


async def test_the_rule_language_schema_matches_the_database(db):
    assert await db.fetchval("SELECT rule_metrics()") == list(rule_language.METRICS)
    assert await db.fetchval("SELECT rule_operators()") == list(rule_language.OPERATORS)
    assert await db.fetchval("SELECT rule_windows()") == list(rule_language.WINDOWS)


async def test_schemathesis_finds_nothing(settings, db, tmp_path):
    """Every operation of /openapi.json, all checks, a fixed seed, >= 25 examples each (two workers), with the
    coverage, fuzzing and stateful phases (the OpenAPI links feed ids from one call to the next), on
    a database holding the demo campaigns so that cycles act, detect and post."""
    await demo.load(db, 100.0)
    app = create_app(settings)
    operations = sum(1 for _ in _operations(settings))
    with serve(app, lifespan="on") as url:
        result = subprocess.run(  # noqa: S603 (our own venv's schemathesis)
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(TESTS / "schemathesis.toml"),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--seed",
                "20261127",
                "--max-examples",
                "25",
                # two at once: the generation (this process) and the service (ours) each get a core
                "--workers",
                "2",
                "--header",
                f"Authorization: Bearer {token()}",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "NO_COLOR": "1"},
        )
    summary = result.stdout[-6000:]
    # a 500 from a failed cycle names only the cycle: its error, for whoever reads the failure
    failed = [
        r["error"]
        for r in await db.fetch("SELECT error FROM autonomous_cycles WHERE status = 'failed'")
    ]
    assert result.returncode == 0, f"{summary}\nfailed cycles: {failed}"
    assert f"Tested: {operations}" in summary, summary
