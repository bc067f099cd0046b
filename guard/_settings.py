"""Settings: every threshold, read from ``GUARD_*`` environment variables.

Environment variable names live here and nowhere else: ``GUARD_`` + the field name upper-cased.
Keyword arguments override the environment. A bad value raises :class:`ConfigError` whose
lines name the variable, what is wrong and what is accepted; secrets are never echoed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from annotated_types import Ge, Le
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._exceptions import ConfigError

ENV_PREFIX = "GUARD_"

Pct = Annotated[float, Field(ge=0, le=100)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
Millis = Annotated[float, Field(ge=0)]
LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]


class GuardSettings(BaseSettings):
    """guard's configuration. ``GuardSettings()`` reads the environment; kwargs override it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=True,
        frozen=True,
    )

    agent_id: str = Field(
        "agent", min_length=1, description="label on logs, metrics and stored rows"
    )
    db_path: Path = Field(
        Path("guard.db"), description="one SQLite file: dead letters, breaker state, ledger, audit"
    )
    mode: Literal["enforce", "shadow"] = Field(
        "enforce", description='`enforce`, or `shadow`: record and log "would deny", never block'
    )
    consecutive_loss_limit: Count = Field(
        10, description="trip after N losing settlements in a row (0 = off)"
    )
    balance_drop_pct: Pct = Field(
        10, description="trip when equity falls this % below its high-water mark (0 = off)"
    )
    balance_window_s: Seconds = Field(
        3600, description="window of the high-water mark for the balance-drop breaker"
    )
    error_rate_pct: Pct = Field(
        5, description="trip when errors / calls in the window reach this %"
    )
    error_window_s: Seconds = Field(60, description="sliding window of the error-rate breaker")
    error_min_calls: Count = Field(
        20, description="error rate is judged once this many calls were seen"
    )
    latency_p95_ms: Millis = Field(
        10000, description="trip when p95 latency in the error window exceeds this (0 = off)"
    )
    cooldown_s: Seconds = Field(
        60, description="open → half-open delay of self-healing breakers (error_rate, latency)"
    )
    loss_cooldown_s: Seconds = Field(
        0,
        description="0: loss breakers stay open until an operator reset; >0: unlock after this",
    )
    retry_attempts: Annotated[int, Field(ge=1)] = Field(
        5, description="total attempts for a retryable failure (1 = no retry)"
    )
    retry_base_delay_s: Seconds = Field(
        0.2, description="first backoff delay (exponential, jitter)"
    )
    retry_max_delay_s: Seconds = Field(
        30, description="cap on one wait and on the total time spent retrying"
    )
    idempotent_retries: bool = Field(
        False,
        description="the server honours Idempotency-Key: also retry money calls after a "
        "timeout or a 500/502/504",
    )
    consecutive_loss_warn: Count = Field(
        5, description="warning event (no blocking) at this streak"
    )
    balance_drop_warn_pct: Pct = Field(5, description="warning event at this drop")
    error_rate_warn_pct: Pct = Field(2, description="warning event at this error rate")
    latency_p95_warn_ms: Millis = Field(2000, description="warning event at this p95")
    silence_warn_s: Seconds = Field(
        300, description="health turns degraded when no call was made for this long"
    )
    api_key: SecretStr | None = Field(
        None, description="key used by `guard dlq replay` and the demo; never stored or printed"
    )
    log_level: LogLevel = Field("INFO", description="level of guard's log events")
    alert_webhook_url: SecretStr | None = Field(
        None, description="POST a JSON alert on breaker transitions and dead letters"
    )
    alert_cooldown_s: Seconds = Field(300, description="at most one alert per key per cooldown")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("alert_webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return value

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_problems(exc, set(values))) from None

    @staticmethod
    def env_name(field: str) -> str:
        """The environment variable that sets ``field``."""
        return ENV_PREFIX + field.upper()

    def public_dict(self) -> dict[str, Any]:
        """The effective settings, JSON-ready, secrets masked."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            secret = isinstance(getattr(self, name), SecretStr)
            out[name] = "**********" if secret else value
        return out


def unknown_env_vars(environ: dict[str, str] | None = None) -> list[str]:
    """``GUARD_*`` variables that set nothing: usually a typo that would silently be ignored."""
    environ = dict(os.environ) if environ is None else environ
    known = {GuardSettings.env_name(f) for f in GuardSettings.model_fields}
    return sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known)


def env_table() -> str:
    """The Markdown table of every ``GUARD_*`` variable, made from the model (the README's)."""
    rows = ["| env var | default | accepted | meaning |", "|---|---|---|---|"]
    for name, info in GuardSettings.model_fields.items():
        default = info.default
        if default is None:
            shown = "unset"
        elif isinstance(default, bool):
            shown = f"`{str(default).lower()}`"
        elif isinstance(default, float) and default.is_integer():
            shown = f"`{int(default)}`"
        else:
            shown = f"`{default}`"
        meaning = (info.description or "").replace("|", "\\|")
        env = GuardSettings.env_name(name)
        rows.append(f"| `{env}` | {shown} | {accepted(name)} | {meaning} |")
    return "\n".join(rows)


def accepted(field: str) -> str:
    """What a field accepts, in words, from its type and constraints."""
    info = GuardSettings.model_fields[field]
    lo = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
    hi = next((m.le for m in info.metadata if isinstance(m, Le)), None)
    kind = "a whole number" if info.annotation is int else "a number"
    if field == "mode":
        return "enforce or shadow"
    if field == "log_level":
        return "one of " + ", ".join(get_args(LogLevel))
    if field == "alert_webhook_url":
        return "an http:// or https:// URL"
    if field in ("agent_id", "db_path", "api_key"):
        return "a non-empty string"
    if info.annotation is bool:
        return "true or false"
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    if lo is not None:
        return f"{kind} >= {lo}"
    return kind


_WHAT = {
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "float_parsing": "not a number",
    "finite_number": "not a finite number",
    "greater_than_equal": "too small",
    "less_than_equal": "too large",
    "literal_error": "not an accepted value",
    "string_too_short": "empty",
    "extra_forbidden": "not a guard setting",
    "bool_parsing": "not true or false",
}


def _problems(exc: ValidationError, keywords: set[str]) -> list[str]:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        if field in keywords or field not in GuardSettings.model_fields:
            where = f"GuardSettings({field}=...)"
        else:
            where = GuardSettings.env_name(field)
        what = _WHAT.get(error["type"], error["msg"].removeprefix("Value error, "))
        if field not in GuardSettings.model_fields:
            lines.append(f"{where}: {what}")
            continue
        secret = field in ("api_key", "alert_webhook_url")
        shown = "" if secret or where.endswith("...)") else f"={error['input']!r}"
        lines.append(f"{where}{shown}: {what} (accepted: {accepted(field)})")
    return lines
