"""guard status and guard reset, through typer's runner and as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from guard import GuardSettings, GuardTransport
from guard._store import SyncStore
from guard.cli import app

runner = CliRunner()
LOSS = (
    b'{"bet_id":"b","game":"dice","amount_bet":1,"won":false,"amount_won":0,"new_balance":9.5,'
    b'"result":{"roll":3}}'
)


@pytest.fixture
def tripped(tmp_path: Path) -> Path:
    """A database where consecutive_loss tripped after two losing bets."""
    db = tmp_path / "guard.db"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(LOSS)
        )

    settings = GuardSettings(db_path=db, consecutive_loss_limit=2)
    with httpx.Client(
        transport=GuardTransport(httpx.MockTransport(handler), settings=settings)
    ) as c:
        for _ in range(2):
            c.post("https://casino.purpleflea.com/api/v1/games/dice", json={})
    return db


def test_status_json_shows_the_open_breaker_and_the_ledger(tripped: Path) -> None:
    """guard status --json reports the tripped breaker and the ledger from the database."""
    result = runner.invoke(app, ["status", "--json", "--db", str(tripped)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (breaker,) = report["breakers"]
    assert (breaker["name"], breaker["state"]) == ("consecutive_loss", "open")
    assert report["ledger"]["loss_streak"] == 2
    assert report["ledger"]["realized_pnl"] == "-2"
    assert report["health"] == {
        "status": "degraded",
        "reasons": ["consecutive_loss open for agent"],
    }


def test_status_table_names_the_breaker(tripped: Path) -> None:
    """The human view lists the breaker, its state and why it tripped."""
    result = runner.invoke(app, ["status", "--db", str(tripped)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "consecutive_loss" in result.stdout
    assert "2 losing settlements in a row" in result.stdout


def test_status_without_a_database_is_one_line_exit_1(tmp_path: Path) -> None:
    """A missing database: exit 1 with one line saying where it looked."""
    result = runner.invoke(app, ["status", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"no guard database at {tmp_path / 'none.db'} (set GUARD_DB_PATH or pass --db)"
    ]


def test_status_for_an_unknown_agent_lists_the_known_ones(tripped: Path) -> None:
    """Asking for an agent the database does not know names the agents it does."""
    result = runner.invoke(app, ["status", "--db", str(tripped), "--agent", "bob"])
    assert result.exit_code == 1
    assert "agents: agent" in result.stderr


def test_reset_closes_the_breaker_and_audits_it(tripped: Path) -> None:
    """guard reset closes the breaker and writes an operator row to the audit table."""
    result = runner.invoke(
        app, ["reset", "consecutive_loss", "--reason", "reviewed the bot", "--db", str(tripped)]
    )
    assert result.exit_code == 0, result.output
    assert "consecutive_loss (agent): open -> closed" in result.stdout
    store = SyncStore(tripped)
    try:
        row = store.audit("agent", 1)[0]
        state = store.load("agent")[0][0]["state"]
    finally:
        store.close()
    assert (row["actor"], row["to_state"], row["reason"]) == (
        "operator",
        "closed",
        "operator reset: reviewed the bot",
    )
    assert state == "closed"


def test_reset_also_clears_what_tripped_it(tripped: Path) -> None:
    """After guard reset, a restarted guard does not re-trip on the old loss streak."""
    runner.invoke(app, ["reset", "consecutive_loss", "--reason", "ok", "--db", str(tripped)])
    balance = b'{"agent_id":"a","balance_usd":9.5}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(balance)
        )

    settings = GuardSettings(db_path=tripped, consecutive_loss_limit=2)
    transport = GuardTransport(httpx.MockTransport(handler), settings=settings)
    with httpx.Client(transport=transport) as client:
        client.get("https://casino.purpleflea.com/api/v1/auth/balance")
    snapshot = transport.snapshot()
    assert snapshot["breakers"]["consecutive_loss"]["state"] == "closed"
    assert snapshot["ledger"]["loss_streak"] == 0


def test_reset_all_closes_everything(tripped: Path) -> None:
    """guard reset --all closes every open breaker."""
    result = runner.invoke(app, ["reset", "--all", "--reason", "new day", "--db", str(tripped)])
    assert result.exit_code == 0


def test_reset_with_nothing_open_exits_1(tripped: Path) -> None:
    """Resetting a breaker that is not open does nothing and says so (exit 1)."""
    result = runner.invoke(app, ["reset", "error_rate", "--reason", "x", "--db", str(tripped)])
    assert result.exit_code == 1
    assert "nothing to reset" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["reset", "--reason", "x"],
        ["reset", "auth", "--all", "--reason", "x"],
        ["reset", "nope", "--reason", "x"],
        ["reset", "auth"],
        ["reset", "auth", "--reason", " "],
    ],
)
def test_reset_rejects_bad_input_with_exit_2(tripped: Path, args: list[str]) -> None:
    """No breaker, two choices, an unknown name or no reason: exit 2 and no traceback."""
    result = runner.invoke(app, [*args, "--db", str(tripped)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_status_and_reset_as_real_processes(tripped: Path) -> None:
    """The installed command works as a process: reset, then status shows it closed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARD_")}
    env["GUARD_DB_PATH"] = str(tripped)
    guard_cmd = [sys.executable, "-m", "guard"]
    reset = subprocess.run(
        [*guard_cmd, "reset", "--all", "--reason", "ok"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert reset.returncode == 0, reset.stderr
    status = subprocess.run(
        [*guard_cmd, "status", "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(status.stdout)["breakers"][0]["state"] == "closed"
