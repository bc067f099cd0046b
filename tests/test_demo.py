"""`guard demo`: the scripted session runs, trips every breaker it promises, and is repeatable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from guard.cli import app as cli

TRIPPED = {"consecutive_loss", "auth", "error_rate"}


def demo(*args: str) -> tuple[int, str, str]:
    """`guard demo ARGS` through typer's runner: exit code, stdout, stderr."""
    result = CliRunner().invoke(cli, ["demo", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One `guard demo --json` run shared by the tests that only read its results."""
    directory = tmp_path_factory.mktemp("demo") / "out"
    code, out, err = demo("--dir", str(directory), "--json")
    assert code == 0, out + err
    return directory, json.loads(out)


@pytest.fixture
def summary(run: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return run[1]


@pytest.fixture
def db(run: tuple[Path, dict[str, Any]]) -> Path:
    return run[0] / "guard.db"


def test_json_mode_exits_0_and_prints_only_json(tmp_path: Path) -> None:
    """--json exits 0 and stdout is one JSON document, nothing else."""
    code, out, err = demo("--dir", str(tmp_path / "d"), "--json")
    assert code == 0, out + err
    assert json.loads(out)["seed"] == 7


def test_summary_names_every_tripped_breaker_with_its_reason(summary: dict[str, Any]) -> None:
    """The summary names consecutive_loss, auth and error_rate, each with the audited reason."""
    reasons = {t["breaker"]: t["reason"] for t in summary["trips"]}
    assert set(reasons) == TRIPPED
    assert reasons["consecutive_loss"] == "5 losing settlements in a row"
    assert reasons["auth"] == "casino answered 401: the API key was rejected"
    assert reasons["error_rate"].startswith("error rate ")


def test_summary_lists_the_dead_letters_with_outcomes(summary: dict[str, Any]) -> None:
    """The 401'd bet and the storm's bet are dead letters, both not_executed."""
    letters = [(d["operation"], d["http_status"], d["outcome"]) for d in summary["dead_letters"]]
    assert letters == [("bet", 401, "not_executed"), ("bet", 503, "not_executed")]
    assert all(isinstance(d["id"], int) for d in summary["dead_letters"])


def test_losing_streak_refuses_a_bet_but_the_trade_close_goes_through(
    summary: dict[str, Any],
) -> None:
    """consecutive_loss refuses the next bet locally while the trade close answers 200."""
    scene = summary["scenes"]["losing_streak"]
    assert scene["refused"]["breaker"] == "consecutive_loss"
    assert scene["trade_close"]["status"] == 200
    assert scene["breaker"] == "open"


def test_key_rotation_sends_exactly_one_401(summary: dict[str, Any]) -> None:
    """After the rotation one 401 reaches the server; later tries are refused locally."""
    scene = summary["scenes"]["key_rotation"]
    assert (scene["server_requests"], scene["server_401s"]) == (1, 1)
    assert scene["refused_locally"] >= 3
    assert (scene["resumed_status"], scene["breaker"]) == (200, "closed")


def test_casino_storm_spares_escrow_and_heals_with_one_probe(summary: dict[str, Any]) -> None:
    """The storm opens error_rate for the casino only; escrow answers; one probe closes it."""
    scene = summary["scenes"]["casino_storm"]
    assert scene["bet_status"] == 503
    assert scene["next_bet_refused_by"] == "error_rate"
    assert scene["escrow_status"] == 200
    assert (scene["probe_status"], scene["probe_requests"], scene["breaker"]) == (200, 1, "closed")


def test_withdrawal_is_not_a_loss(summary: dict[str, Any]) -> None:
    """The withdrawal lowers the balance but not the P&L, the streak or the drawdown in %."""
    scene = summary["scenes"]["withdrawal"]
    assert scene["status"] == 200
    before, after = scene["balance"]
    assert float(after) < float(before)
    for key in ("realized_pnl", "loss_streak", "drawdown_pct"):
        assert scene[key][0] == scene[key][1], key


def test_same_seed_gives_byte_identical_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs with --seed 7 --json print the same bytes."""
    monkeypatch.chdir(tmp_path)
    first = demo("--seed", "7", "--dir", "demo", "--json")
    second = demo("--seed", "7", "--dir", "demo", "--json")
    assert first[0] == second[0] == 0
    assert first[1] == second[1]


def test_a_different_seed_still_succeeds(tmp_path: Path) -> None:
    """Seed 11 (whose streak already starts during normal play) still trips all three."""
    code, out, err = demo("--seed", "11", "--dir", str(tmp_path / "d"), "--json")
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["seed"] == 11
    assert {t["breaker"] for t in summary["trips"]} == TRIPPED


def test_guard_variables_of_the_shell_do_not_change_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GUARD_* variables (even a bad one) leave the demo's settings and result unchanged."""
    monkeypatch.chdir(tmp_path)
    plain = demo("--dir", "demo", "--json")
    monkeypatch.setenv("GUARD_CONSECUTIVE_LOSS_LIMIT", "1")
    monkeypatch.setenv("GUARD_ERROR_RATE_PCT", "abc")
    monkeypatch.setenv("GUARD_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    assert demo("--dir", "demo", "--json") == plain


def test_an_old_database_is_replaced(tmp_path: Path) -> None:
    """A second run into the same directory starts from a fresh guard.db."""
    directory = tmp_path / "d"
    demo("--dir", str(directory), "--json")
    (directory / "guard.db-wal").write_bytes(b"stale")
    code, out, err = demo("--dir", str(directory), "--json")
    assert code == 0, out + err
    assert [d["id"] for d in json.loads(out)["dead_letters"]] == [1, 2]


def test_dlq_list_shows_the_dead_letters(db: Path, summary: dict[str, Any]) -> None:
    """`guard dlq list --db DIR/guard.db --json` lists the demo's dead letters."""
    result = CliRunner().invoke(cli, ["dlq", "list", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    listed = {(row["id"], row["operation"], row["outcome"]) for row in json.loads(result.stdout)}
    expected = {(d["id"], d["operation"], d["outcome"]) for d in summary["dead_letters"]}
    assert listed == expected


def test_status_works_on_the_demo_database(db: Path, summary: dict[str, Any]) -> None:
    """`guard status --db DIR/guard.db` shows the breakers and the ledger the demo left."""
    result = CliRunner().invoke(cli, ["status", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert {b["name"] for b in status["breakers"]} == TRIPPED
    assert status["ledger"]["realized_pnl"] == summary["ledger"]["realized_pnl"]
    human = CliRunner().invoke(cli, ["status", "--db", str(db)])
    assert human.exit_code == 0, human.output
    assert "consecutive_loss" in human.stdout


def test_human_output_names_scenes_breakers_and_ends_with_next_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --json the output names each scene and breaker and ends with the next commands."""
    monkeypatch.chdir(tmp_path)
    code, out, err = demo("--dir", "demo")
    assert code == 0, out + err
    for scene in ("Normal play", "losing streak", "key rotation", "5xx storm", "withdrawal"):
        assert scene in out, scene
    for breaker in TRIPPED:
        assert breaker in out, breaker
    tail = out[out.index("Try next") :]
    for command in ("guard status --db demo/guard.db", "guard dlq list --db demo/guard.db"):
        assert command in tail, command
    assert "guard dlq replay" in tail
    assert "GUARD_API_KEY" in tail


def test_a_directory_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """--dir naming a file fails with one line on stderr and exit code 2."""
    target = tmp_path / "file"
    target.write_text("")
    code, _, err = demo("--dir", str(target), "--json")
    assert code == 2
    assert len(err.strip().splitlines()) == 1


def test_real_process_runs_well_under_a_minute(tmp_path: Path) -> None:
    """`python -m guard demo --json` exits 0 with a JSON summary and no warnings on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUARD_")}
    env["PYTHONWARNINGS"] = "always::ResourceWarning"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "demo", "--dir", str(tmp_path / "d"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = f"took {time.perf_counter() - started:.1f} s"
    assert proc.returncode == 0, f"{took}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    assert {t["breaker"] for t in json.loads(proc.stdout)["trips"]} == TRIPPED, took
    assert proc.stderr == "", took
