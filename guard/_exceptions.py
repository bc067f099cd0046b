"""Exceptions raised by guard.

    GuardError                     the root: catch this to catch everything guard raises
    ├── ConfigError                a GUARD_* variable (or a keyword) guard cannot use (ValueError)
    └── BreakerOpenError           a breaker refused the call before it left the process
        └── KeyExpiredError        the `auth` breaker: this API key was rejected

BreakerOpenError is also an ``httpx.TransportError`` (never a ``NetworkError`` or a timeout), so
code that catches ``httpx.HTTPError`` sees it, and retry layers that retry network errors don't.
"""

from __future__ import annotations

from typing import Any

import httpx


class GuardError(Exception):
    """Root of every exception guard raises."""


class ConfigError(GuardError, ValueError):
    """Settings that cannot be used; ``problems`` holds one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class BreakerOpenError(GuardError, httpx.TransportError):
    """A breaker denied the call; nothing was sent.

    ``breaker`` names it (``error_rate``), ``scope`` says where it applies (``agent``, a service
    such as ``casino``, or a key fingerprint), ``retry_after`` is the seconds until a call may
    be tried again (``None``: latched until ``guard reset``).
    """

    def __init__(
        self,
        breaker: str,
        scope: str,
        reason: str,
        retry_after: float | None,
        *,
        operation: str = "",
        request: httpx.Request | None = None,
    ) -> None:
        when = "until an operator reset" if retry_after is None else f"retry in {retry_after:.0f}s"
        what = f"{operation} " if operation else ""
        message = f"guard denied {what}call: {breaker} breaker open for {scope} ({reason}); {when}"
        super().__init__(message, request=request)
        self.breaker = breaker
        self.scope = scope
        self.reason = reason
        self.retry_after = retry_after
        self.operation = operation

    def to_dict(self) -> dict[str, Any]:
        """An agent-readable denial, e.g. for an LLM tool loop to show."""
        return {
            "denied": True,
            "breaker": self.breaker,
            "scope": self.scope,
            "reason": self.reason,
            "retry_after": self.retry_after,
            "operation": self.operation,
            "message": str(self),
        }


class KeyExpiredError(BreakerOpenError):
    """The ``auth`` breaker: the API key was rejected; use another key."""
