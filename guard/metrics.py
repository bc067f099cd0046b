"""Prometheus metrics for a guard transport (the ``prometheus`` extra).

    from prometheus_client import CollectorRegistry, generate_latest
    registry = CollectorRegistry()
    guard.metrics.register(transport, registry)

Nothing is registered on import, and nothing on the global registry unless you pass it: the
collector reads ``transport.snapshot()`` at each scrape, so the numbers are the guard's own.
Money is exported as floats (the metrics edge); the ledger itself stays ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

STATE = {"closed": 0, "half_open": 1, "open": 2}


class Snapshots(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


class GuardCollector(Collector):
    """Turns one transport's snapshot into metric families at scrape time."""

    def __init__(self, transport: Snapshots) -> None:
        self.transport = transport

    def collect(self) -> Iterator[Metric]:
        snap = self.transport.snapshot()
        agent = snap["agent_id"]
        state = GaugeMetricFamily(
            "guard_breaker_state",
            "0 closed, 1 half-open, 2 open",
            labels=["agent", "breaker", "scope"],
        )
        for name, entry in snap["breakers"].items():
            scopes = entry.get("scopes") or {entry["scope"] or "": entry}
            for scope, b in scopes.items():
                state.add_metric([agent, name, scope], STATE[b["state"]])
        yield state
        ledger = snap["ledger"]
        for key, doc in (
            ("realized_pnl", "realized profit and loss, USD"),
            ("balance", "last known balance, USD"),
            ("drawdown_pct", "equity below its high-water mark, %"),
            ("loss_streak", "losing settlements in a row"),
        ):
            gauge = GaugeMetricFamily(f"guard_{key}", doc, labels=["agent"])
            if ledger.get(key) is not None:
                gauge.add_metric([agent], float(ledger[key]))
            yield gauge
        for key, doc in (
            ("calls", "calls admitted"),
            ("denied", "calls refused by a breaker"),
            ("dead_letters", "money operations dead-lettered"),
            ("unsettled", "bodies that could not be settled"),
        ):
            counter = CounterMetricFamily(f"guard_{key}", doc, labels=["agent"])
            counter.add_metric([agent], snap["counts"][key])
            yield counter
        errors = CounterMetricFamily(
            "guard_service_errors", "errors (transport, 5xx, 429)", labels=["agent", "service"]
        )
        p95 = GaugeMetricFamily(
            "guard_latency_p95_seconds", "p95 time to headers", labels=["agent", "service"]
        )
        for service, st in snap["services"].items():
            errors.add_metric([agent, service], st["errors"])
            if st["p95_ms"] is not None:
                p95.add_metric([agent, service], st["p95_ms"] / 1000)
        yield errors
        yield p95


def register(transport: Snapshots, registry: CollectorRegistry) -> GuardCollector:
    """Register a collector for ``transport`` on ``registry``; returns it (to unregister)."""
    collector = GuardCollector(transport)
    registry.register(collector)
    return collector
