"""GuardSettings: defaults, the GUARD_* environment, validation messages and secrets."""

from __future__ import annotations

import pytest

from guard import ConfigError, GuardError, GuardSettings
from guard._settings import unknown_env_vars

# The table of design.md: env var -> default.
DESIGN_TABLE = {
    "GUARD_AGENT_ID": "agent",
    "GUARD_DB_PATH": "guard.db",
    "GUARD_MODE": "enforce",
    "GUARD_CONSECUTIVE_LOSS_LIMIT": 10,
    "GUARD_BALANCE_DROP_PCT": 10,
    "GUARD_BALANCE_WINDOW_S": 3600,
    "GUARD_ERROR_RATE_PCT": 5,
    "GUARD_ERROR_WINDOW_S": 60,
    "GUARD_ERROR_MIN_CALLS": 20,
    "GUARD_LATENCY_P95_MS": 10000,
    "GUARD_COOLDOWN_S": 60,
    "GUARD_LOSS_COOLDOWN_S": 0,
    "GUARD_RETRY_ATTEMPTS": 5,
    "GUARD_RETRY_BASE_DELAY_S": 0.2,
    "GUARD_RETRY_MAX_DELAY_S": 30,
    "GUARD_IDEMPOTENT_RETRIES": False,
    "GUARD_CONSECUTIVE_LOSS_WARN": 5,
    "GUARD_BALANCE_DROP_WARN_PCT": 5,
    "GUARD_ERROR_RATE_WARN_PCT": 2,
    "GUARD_LATENCY_P95_WARN_MS": 2000,
    "GUARD_SILENCE_WARN_S": 300,
    "GUARD_API_KEY": None,
    "GUARD_LOG_LEVEL": "INFO",
    "GUARD_ALERT_WEBHOOK_URL": None,
    "GUARD_ALERT_COOLDOWN_S": 300,
}


def test_every_design_variable_is_a_setting() -> None:
    """The settings model has exactly the variables of the design table."""
    assert {GuardSettings.env_name(f) for f in GuardSettings.model_fields} == set(DESIGN_TABLE)


@pytest.mark.parametrize(("env", "default"), DESIGN_TABLE.items())
def test_defaults_match_the_design_table(env: str, default: object) -> None:
    """Each setting defaults to the value design.md gives it."""
    value = GuardSettings().public_dict()[env.removeprefix("GUARD_").lower()]
    assert value == default


def test_env_var_sets_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """GUARD_CONSECUTIVE_LOSS_LIMIT=7 gives consecutive_loss_limit 7."""
    monkeypatch.setenv("GUARD_CONSECUTIVE_LOSS_LIMIT", "7")
    assert GuardSettings().consecutive_loss_limit == 7


def test_keyword_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyword argument wins over the environment."""
    monkeypatch.setenv("GUARD_ERROR_RATE_PCT", "9")
    assert GuardSettings(error_rate_pct=3).error_rate_pct == 3


@pytest.mark.parametrize(
    ("env", "value", "problem"),
    [
        ("GUARD_ERROR_RATE_PCT", "abc", "not a number"),
        ("GUARD_BALANCE_DROP_PCT", "150", "too large"),
        ("GUARD_CONSECUTIVE_LOSS_LIMIT", "-3", "too small"),
        ("GUARD_CONSECUTIVE_LOSS_LIMIT", "2.5", "not a whole number"),
        ("GUARD_COOLDOWN_S", "-1", "too small"),
        ("GUARD_MODE", "loud", "not an accepted value"),
        ("GUARD_LOG_LEVEL", "chatty", "not an accepted value"),
        ("GUARD_RETRY_ATTEMPTS", "0", "too small"),
        ("GUARD_AGENT_ID", "", "empty"),
        ("GUARD_IDEMPOTENT_RETRIES", "maybe", "not true or false"),
    ],
)
def test_bad_env_value_names_the_variable_and_the_range(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, problem: str
) -> None:
    """A bad value raises ConfigError with one line: the env var, the problem, what is accepted."""
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        GuardSettings()
    (line,) = info.value.problems
    assert line.startswith(f"{env}=")
    assert problem in line
    assert "accepted:" in line


def test_config_error_is_a_guard_error_and_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """ConfigError can be caught as GuardError or ValueError."""
    monkeypatch.setenv("GUARD_ERROR_RATE_PCT", "abc")
    with pytest.raises(GuardError):
        GuardSettings()
    with pytest.raises(ValueError, match="GUARD_ERROR_RATE_PCT"):
        GuardSettings()


def test_every_problem_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bad variables give two lines."""
    monkeypatch.setenv("GUARD_ERROR_RATE_PCT", "abc")
    monkeypatch.setenv("GUARD_BALANCE_DROP_PCT", "150")
    with pytest.raises(ConfigError) as info:
        GuardSettings()
    assert len(str(info.value).splitlines()) == 2


def test_percentage_range_is_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """A percentage's message gives the accepted range 0 to 100."""
    monkeypatch.setenv("GUARD_BALANCE_DROP_PCT", "150")
    with pytest.raises(ConfigError, match="from 0 to 100"):
        GuardSettings()


def test_bad_keyword_names_the_keyword() -> None:
    """A bad keyword argument is reported by its name, not as an env var."""
    with pytest.raises(ConfigError, match=r"GuardSettings\(balance_drop_pct=\.\.\.\)"):
        GuardSettings(balance_drop_pct=101)


def test_unknown_keyword_is_refused() -> None:
    """A misspelt keyword is an error rather than silently ignored."""
    with pytest.raises(ConfigError, match="not a guard setting"):
        GuardSettings(error_rate=5)


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad webhook URL is reported without its text (it may carry a token)."""
    monkeypatch.setenv("GUARD_ALERT_WEBHOOK_URL", "ftp://hooks.example/T0KEN-canary")
    with pytest.raises(ConfigError) as info:
        GuardSettings()
    assert "canary" not in str(info.value)
    assert "GUARD_ALERT_WEBHOOK_URL" in str(info.value)


def test_api_key_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API key is held as a secret: masked in dumps and repr, readable on purpose only."""
    monkeypatch.setenv("GUARD_API_KEY", "sk_live_canary")
    settings = GuardSettings()
    assert "canary" not in repr(settings)
    assert settings.public_dict()["api_key"] == "**********"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk_live_canary"


def test_warn_level_above_trip_level_is_not_an_error() -> None:
    """A warn level at or above its trip level is simply unused."""
    settings = GuardSettings(consecutive_loss_warn=20, consecutive_loss_limit=10)
    assert settings.consecutive_loss_warn == 20


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    """GUARD_LOG_LEVEL=debug is DEBUG."""
    monkeypatch.setenv("GUARD_LOG_LEVEL", "debug")
    assert GuardSettings().log_level == "DEBUG"


def test_settings_are_immutable() -> None:
    """Settings cannot be changed after construction."""
    settings = GuardSettings()
    with pytest.raises(ValueError, match="frozen"):
        settings.cooldown_s = 1  # type: ignore[misc]


def test_unknown_guard_variables_are_found() -> None:
    """A GUARD_* variable that sets nothing (a typo) is listed."""
    env = {"GUARD_ERROR_RATE": "5", "GUARD_ERROR_RATE_PCT": "5", "HOME": "/"}
    assert unknown_env_vars(env) == ["GUARD_ERROR_RATE"]
