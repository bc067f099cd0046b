"""Sliding windows in fixed time buckets: call/error counts, a latency histogram, a high-water mark.

Every window splits time into ``buckets`` slots of ``span_s / buckets`` seconds each and keeps
the last ``buckets`` slots, the current (partial) one included. With ``w = span_s / buckets`` and
``slot(t) = floor(t / w)``, an event at time ``t`` is inside the window at ``now`` when::

    slot(now) - slot(t) < buckets

so an event is forgotten between ``span_s - w`` and ``span_s`` seconds after it happened. Each
window keeps running aggregates and subtracts a slot once, when it expires, so the cost per call
does not grow with the traffic.

A window of ``span_s == 0`` holds nothing: it records no event and always reads as empty.

Time is expected not to go backwards; an earlier ``now`` than one already seen is treated as the
latest time seen (a clock step back must not corrupt the aggregates).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["CountWindow", "HighWater", "LatencyWindow"]

# Latency histogram: log-spaced bins from 1 ms to 5 minutes. A bin spans a ratio of 1.1, and its
# representative value is the geometric middle, so any value in a bin is within a factor
# sqrt(1.1) (about 4.9 %) of what the bin reports.
MIN_MS = 1.0
MAX_MS = 300_000.0
RATIO = 1.1
_LOG_RATIO = math.log(RATIO)
BINS = math.ceil(math.log(MAX_MS / MIN_MS) / _LOG_RATIO)
_REPRESENTATIVE = tuple(MIN_MS * math.pow(RATIO, k + 0.5) for k in range(BINS))


class _Slots:
    """Bucket arithmetic shared by the windows: which slot ``now`` falls in, and which expired."""

    __slots__ = ("_buckets", "_latest", "_width")

    def __init__(self, span_s: float, buckets: int) -> None:
        if not span_s >= 0 or math.isinf(span_s):
            raise ValueError(f"span_s must be a finite number >= 0, got {span_s!r}")
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets!r}")
        self._buckets = buckets
        self._width = span_s / buckets
        self._latest: int | None = None

    @property
    def empty(self) -> bool:
        """True for a zero-length window, which holds nothing."""
        return self._width == 0

    def slot(self, now: float) -> int:
        """The slot of ``now``, never earlier than the latest slot seen."""
        current = math.floor(now / self._width)
        if self._latest is not None and current < self._latest:
            current = self._latest
        self._latest = current
        return current

    def expired(self, slot: int, current: int) -> bool:
        """Whether ``slot`` has left the window when the current slot is ``current``."""
        return current - slot >= self._buckets


@dataclass(slots=True)
class _Counts:
    slot: int
    calls: int = 0
    errors: int = 0


class CountWindow:
    """Calls and errors over the last ``span_s`` seconds (edges: see the module docstring)."""

    __slots__ = ("_calls", "_errors", "_queue", "_slots")

    def __init__(self, span_s: float, buckets: int = 60) -> None:
        self._slots = _Slots(span_s, buckets)
        self._queue: deque[_Counts] = deque()  # non-empty slots, oldest first
        self._calls = 0
        self._errors = 0

    def add(self, now: float, *, errors: int = 0) -> None:
        """Count one call at ``now``, and ``errors`` (0 or 1) errors with it."""
        if errors not in (0, 1):
            raise ValueError(f"errors must be 0 or 1, got {errors!r}")
        if self._slots.empty:
            return
        current = self._expire(now)
        if not self._queue or self._queue[-1].slot != current:
            self._queue.append(_Counts(current))
        bucket = self._queue[-1]
        bucket.calls += 1
        bucket.errors += errors
        self._calls += 1
        self._errors += errors

    def totals(self, now: float) -> tuple[int, int]:
        """``(calls, errors)`` inside the window at ``now``."""
        if self._slots.empty:
            return 0, 0
        self._expire(now)
        return self._calls, self._errors

    def _expire(self, now: float) -> int:
        current = self._slots.slot(now)
        while self._queue and self._slots.expired(self._queue[0].slot, current):
            old = self._queue.popleft()
            self._calls -= old.calls
            self._errors -= old.errors
        return current


def _bin(ms: float) -> int:
    """The histogram bin of a latency; values outside 1 ms .. 5 min go to the end bins."""
    if not ms > MIN_MS:  # also catches NaN
        return 0
    if ms >= MAX_MS:
        return BINS - 1
    return min(int(math.log(ms / MIN_MS) / _LOG_RATIO), BINS - 1)


@dataclass(slots=True)
class _Histogram:
    slot: int
    bins: dict[int, int] = field(default_factory=dict)  # sparse: a slot sees few distinct bins


class LatencyWindow:
    """Latencies (ms) over the last ``span_s`` seconds in a log-spaced histogram.

    Percentiles are nearest-rank (the smallest recorded value with at least ``q`` % of the values
    at or below it) and are reported as that value's bin representative: within a factor
    ``sqrt(RATIO)`` of the exact value for latencies between ``MIN_MS`` and ``MAX_MS``.
    """

    __slots__ = ("_count", "_queue", "_slots", "_total")

    def __init__(self, span_s: float, buckets: int = 60) -> None:
        self._slots = _Slots(span_s, buckets)
        self._queue: deque[_Histogram] = deque()
        self._total = [0] * BINS  # the window's aggregate histogram
        self._count = 0

    def add(self, now: float, ms: float) -> None:
        """Record one latency of ``ms`` milliseconds at ``now``."""
        if self._slots.empty:
            return
        current = self._expire(now)
        if not self._queue or self._queue[-1].slot != current:
            self._queue.append(_Histogram(current))
        k = _bin(ms)
        bins = self._queue[-1].bins
        bins[k] = bins.get(k, 0) + 1
        self._total[k] += 1
        self._count += 1

    def count(self, now: float) -> int:
        """How many latencies are inside the window at ``now``."""
        if self._slots.empty:
            return 0
        self._expire(now)
        return self._count

    def percentile(self, now: float, q: float) -> float | None:
        """The ``q``-th percentile (0..100) in ms at ``now``, or None when the window is empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"q must be within 0..100, got {q!r}")
        n = self.count(now)
        if n == 0:
            return None
        rank = max(1, math.ceil(q * n / 100))
        seen = 0
        for k, hits in enumerate(self._total):
            seen += hits
            if seen >= rank:
                return _REPRESENTATIVE[k]
        raise AssertionError("unreachable: the aggregate histogram holds count() values")

    def _expire(self, now: float) -> int:
        current = self._slots.slot(now)
        while self._queue and self._slots.expired(self._queue[0].slot, current):
            for k, hits in self._queue.popleft().bins.items():
                self._total[k] -= hits
                self._count -= hits
        return current


class HighWater:
    """The maximum of observed values over the last ``span_s`` seconds.

    ``shift(delta)`` adds ``delta`` to every retained value and ``scale(factor)`` multiplies
    them, both in O(1): values are stored through one running affine map ``value = a*s + b``.
    A cash flow scales the mark with the equity, so the drawdown in percent stays as it was.
    """

    __slots__ = ("_a", "_offset", "_queue", "_slots")

    def __init__(self, span_s: float, buckets: int = 60) -> None:
        self._slots = _Slots(span_s, buckets)
        # A monotonic queue of (slot, value - offset), values strictly decreasing from the head:
        # the head is the maximum, and a value that a later, larger one outlives is never needed.
        # At most one entry per slot, so the queue never holds more than ``buckets`` entries.
        self._queue: deque[tuple[int, Decimal]] = deque()
        self._a = Decimal(1)
        self._offset = Decimal(0)

    def observe(self, now: float, value: Decimal) -> None:
        """Record ``value`` at ``now``."""
        if self._slots.empty:
            return
        current = self._expire(now)
        raw = (value - self._offset) / self._a
        if self._queue and self._queue[-1][0] == current and self._queue[-1][1] >= raw:
            return  # same slot, same expiry, a larger value already: this one can never be peak
        while self._queue and self._queue[-1][1] <= raw:
            self._queue.pop()
        self._queue.append((current, raw))

    def peak(self, now: float) -> Decimal | None:
        """The largest value observed inside the window at ``now`` (shifts applied), or None."""
        if self._slots.empty:
            return None
        self._expire(now)
        return self._queue[0][1] * self._a + self._offset if self._queue else None

    def shift(self, delta: Decimal) -> None:
        """Add ``delta`` to every retained value."""
        self._offset += delta

    def scale(self, factor: Decimal) -> None:
        """Multiply every retained value by ``factor`` (> 0, so their order is kept)."""
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self._a *= factor
        self._offset *= factor

    def _expire(self, now: float) -> int:
        current = self._slots.slot(now)
        while self._queue and self._slots.expired(self._queue[0][0], current):
            self._queue.popleft()
        return current
