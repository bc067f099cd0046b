"""Exceptions raised by guard.

GuardError                 the root: catch this to catch everything guard raises
└── ConfigError            a GUARD_* variable (or a keyword) has a value guard cannot use
"""

from __future__ import annotations


class GuardError(Exception):
    """Root of every exception guard raises."""


class ConfigError(GuardError, ValueError):
    """Settings that cannot be used; ``problems`` holds one line per bad variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
