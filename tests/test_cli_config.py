"""guard config: the effective settings, or one line per problem and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from guard.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("GUARD_ERROR_RATE_PCT", "abc"),
        ("GUARD_BALANCE_DROP_PCT", "150"),
        ("GUARD_CONSECUTIVE_LOSS_LIMIT", "-3"),
    ],
)
def test_bad_value_exits_2_with_one_line_naming_the_variable(env: str, value: str) -> None:
    """A bad GUARD_* value: exit 2 and a single stderr line naming the variable, no traceback."""
    result = runner.invoke(app, ["config"], env={env: value})
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(env)
    assert "Traceback" not in result.output


def test_json_shows_the_env_value() -> None:
    """GUARD_CONSECUTIVE_LOSS_LIMIT=7 guard config --json shows 7."""
    result = runner.invoke(app, ["config", "--json"], env={"GUARD_CONSECUTIVE_LOSS_LIMIT": "7"})
    assert result.exit_code == 0
    assert json.loads(result.stdout)["consecutive_loss_limit"] == 7


def test_table_names_every_env_var() -> None:
    """The human table lists the settings by their env var names."""
    result = runner.invoke(app, ["config"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "GUARD_CONSECUTIVE_LOSS_LIMIT" in result.stdout
    assert "GUARD_ALERT_COOLDOWN_S" in result.stdout


def test_api_key_is_never_printed() -> None:
    """The API key shows as a mask in both outputs."""
    env = {"GUARD_API_KEY": "sk_live_canary", "COLUMNS": "200"}
    for args in (["config"], ["config", "--json"]):
        result = runner.invoke(app, args, env=env)
        assert "canary" not in result.output
        assert "**********" in result.output


def test_unknown_guard_variable_is_warned_about() -> None:
    """A misspelt GUARD_* variable gets a warning on stderr, and the command still succeeds."""
    result = runner.invoke(app, ["config", "--json"], env={"GUARD_ERROR_RATE": "1"})
    assert result.exit_code == 0
    assert "GUARD_ERROR_RATE is not a guard setting" in result.stderr


def test_real_process_exits_2_without_traceback() -> None:
    """Run as a process, a bad value still gives exit 2 and one line."""
    env = {**os.environ, "GUARD_BALANCE_DROP_PCT": "150"}
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "config"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "GUARD_BALANCE_DROP_PCT='150': too large (accepted: a number from 0 to 100)"
    ]


def test_real_process_prints_json() -> None:
    """Run as a process, guard config --json prints the settings."""
    env = {**os.environ, "GUARD_CONSECUTIVE_LOSS_LIMIT": "7"}
    proc = subprocess.run(
        [sys.executable, "-m", "guard", "config", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["consecutive_loss_limit"] == 7
