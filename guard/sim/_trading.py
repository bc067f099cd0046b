"""The trading service (placeholder until written)."""

from __future__ import annotations

from ._core import Service

service = Service("trading", realm=None)
