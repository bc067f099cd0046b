"""The wallet service (placeholder until written)."""

from __future__ import annotations

from ._core import Service

service = Service("wallet", realm=None)
