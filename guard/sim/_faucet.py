"""The faucet service (placeholder until written)."""

from __future__ import annotations

from ._core import Service

service = Service("faucet", realm=None)
