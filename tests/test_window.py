"""Time-bucketed windows: counts, latency percentiles and the high-water mark."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard._window import MAX_MS, MIN_MS, RATIO, CountWindow, HighWater, LatencyWindow

# A 60 s window in 60 buckets of 1 s: an event at t is inside at now iff floor(now) - floor(t) < 60.
SPAN = 60.0
T0 = 1_767_225_600.0


def _slot(t: float, span: float, buckets: int) -> int:
    """The documented bucket of time t."""
    return math.floor(t / (span / buckets))


def _inside(t: float, now: float, span: float, buckets: int) -> bool:
    """The documented, bucket-aligned definition of 'inside the window'."""
    return _slot(now, span, buckets) - _slot(t, span, buckets) < buckets


# ---------------------------------------------------------------- CountWindow


@pytest.mark.parametrize(
    ("event_at", "now", "counted"),
    [
        (0.0, 0.0, True),  # the current instant
        (0.0, 30.0, True),
        (0.0, 59.9, True),  # still in the last bucket
        (0.0, 60.0, False),  # the event's bucket has just left
        (0.5, 59.99, True),
        (0.5, 60.0, False),  # forgotten 59.5 s later: bucket granularity
        (59.5, 60.0, True),
        (10.0, 1000.0, False),  # long gone
    ],
)
def test_count_window_expiry(event_at: float, now: float, counted: bool) -> None:
    """An event counts until its bucket leaves the window."""
    window = CountWindow(SPAN)
    window.add(T0 + event_at, errors=1)
    assert window.totals(T0 + now) == ((1, 1) if counted else (0, 0))


def test_count_window_counts_calls_and_errors() -> None:
    """Every add is a call; only those flagged are errors."""
    window = CountWindow(SPAN)
    for i in range(10):
        window.add(T0 + i, errors=1 if i % 5 == 0 else 0)
    assert window.totals(T0 + 10) == (10, 2)


def test_count_window_expires_part_of_the_traffic() -> None:
    """Old buckets are subtracted while recent ones stay."""
    window = CountWindow(SPAN)
    window.add(T0, errors=1)
    window.add(T0 + 30)
    window.add(T0 + 30.5, errors=1)
    assert window.totals(T0 + 61) == (2, 1)


@pytest.mark.parametrize("errors", [-1, 2])
def test_count_window_rejects_error_counts_other_than_0_or_1(errors: int) -> None:
    """One call brings at most one error."""
    with pytest.raises(ValueError, match="errors"):
        CountWindow(SPAN).add(T0, errors=errors)


def test_count_window_memory_stays_bounded() -> None:
    """However much traffic, at most one aggregate per bucket is kept."""
    window = CountWindow(SPAN, buckets=10)
    for i in range(10_000):
        window.add(T0 + i * 0.1)
    assert len(window._queue) <= 10
    now = T0 + 999.95
    inside = sum(_inside(T0 + i * 0.1, now, SPAN, 10) for i in range(10_000))
    assert window.totals(now) == (inside, 0)


def test_clock_going_back_counts_at_the_latest_time() -> None:
    """An earlier now than one already seen neither crashes nor corrupts the totals."""
    window = CountWindow(SPAN)
    window.add(T0 + 100)
    window.add(T0 + 50)  # counted in the latest bucket
    assert window.totals(T0 + 40) == (2, 0)
    assert window.totals(T0 + 160) == (0, 0)


@pytest.mark.parametrize("span", [-1.0, math.nan, math.inf])
def test_window_rejects_bad_span(span: float) -> None:
    """A negative, NaN or infinite span is a programming error."""
    with pytest.raises(ValueError, match="span_s"):
        CountWindow(span)


def test_window_rejects_zero_buckets() -> None:
    """A window needs at least one bucket."""
    with pytest.raises(ValueError, match="buckets"):
        LatencyWindow(SPAN, buckets=0)


def test_zero_span_windows_hold_nothing() -> None:
    """A zero-length window records nothing and reads as empty."""
    counts, latencies, high = CountWindow(0), LatencyWindow(0), HighWater(0)
    counts.add(T0, errors=1)
    latencies.add(T0, 12.0)
    high.observe(T0, Decimal(100))
    assert counts.totals(T0) == (0, 0)
    assert latencies.count(T0) == 0
    assert latencies.percentile(T0, 50) is None
    assert high.peak(T0) is None


_events = st.lists(
    st.tuples(st.floats(0, 200, allow_nan=False), st.booleans()), min_size=0, max_size=60
)


@given(
    events=_events,
    queries=st.lists(st.floats(0, 260, allow_nan=False), min_size=1, max_size=10),
    span=st.sampled_from([0.5, 7.0, 10.0, 60.0]),
    buckets=st.sampled_from([1, 3, 10, 60]),
)
def test_count_window_matches_brute_force(
    events: list[tuple[float, bool]], queries: list[float], span: float, buckets: int
) -> None:
    """Totals equal a direct count of the events inside the bucket-aligned window."""
    timeline = sorted(
        [(t, 0, err) for t, err in events] + [(q, 1, False) for q in queries],
        key=lambda item: (item[0], item[1]),
    )
    window = CountWindow(span, buckets)
    seen: list[tuple[float, bool]] = []
    for t, is_query, err in timeline:
        if is_query:
            inside = [e for at, e in seen if _inside(at, t, span, buckets)]
            assert window.totals(t) == (len(inside), sum(inside))
        else:
            window.add(t, errors=int(err))
            seen.append((t, err))


# ---------------------------------------------------------------- LatencyWindow


def _nearest_rank(values: list[float], q: float) -> float:
    """The exact nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) / 100)) - 1]


def _close(reported: float | None, exact: float) -> bool:
    """Within the bin resolution: a factor sqrt(RATIO) either way (plus float slack)."""
    bound = math.sqrt(RATIO) * (1 + 1e-9)
    return reported is not None and exact / bound <= reported <= exact * bound


def test_latency_window_empty_has_no_percentile() -> None:
    """An empty window has no percentile and a count of 0."""
    window = LatencyWindow(SPAN)
    assert window.count(T0) == 0
    assert window.percentile(T0, 95) is None


@pytest.mark.parametrize("q", [50, 95, 99])
def test_latency_percentiles_of_a_known_spread(q: float) -> None:
    """p50 / p95 / p99 of 1..1000 ms are within the bin resolution of the exact value."""
    window = LatencyWindow(SPAN)
    values = [float(ms) for ms in range(1, 1001)]
    for ms in values:
        window.add(T0, ms)
    assert window.count(T0) == 1000
    assert _close(window.percentile(T0, q), _nearest_rank(values, q))


@pytest.mark.parametrize(
    ("slow_at", "now", "expected_p99"),
    [
        (0.0, 30.0, 5000.0),  # the slow calls are still inside
        (0.0, 60.0, 10.0),  # their bucket has expired: only the fast calls remain
    ],
)
def test_latency_window_expiry(slow_at: float, now: float, expected_p99: float) -> None:
    """Expired latencies leave the aggregate histogram."""
    window = LatencyWindow(SPAN)
    for _ in range(5):
        window.add(T0 + slow_at, 5000.0)
    for _ in range(5):
        window.add(T0 + 20, 10.0)
    assert _close(window.percentile(T0 + now, 99), expected_p99)


@pytest.mark.parametrize(
    ("ms", "end"),
    [
        (0.0, "low"),
        (0.2, "low"),
        (-5.0, "low"),
        (math.nan, "low"),
        (1e9, "high"),
        (math.inf, "high"),
    ],
)
def test_latency_outside_the_range_clamps_to_the_end_bins(ms: float, end: str) -> None:
    """Values below 1 ms or above the top go to the first or the last bin."""
    window = LatencyWindow(SPAN)
    window.add(T0, ms)
    reported = window.percentile(T0, 50)
    assert reported is not None
    if end == "low":
        assert _close(reported, MIN_MS)
    else:
        assert reported >= MAX_MS


@pytest.mark.parametrize("q", [-0.1, 100.1, math.nan])
def test_latency_percentile_rejects_q_outside_0_100(q: float) -> None:
    """q is a percentage."""
    with pytest.raises(ValueError, match="q must"):
        LatencyWindow(SPAN).percentile(T0, q)


def test_latency_window_memory_stays_bounded() -> None:
    """However much traffic, at most one sparse histogram per bucket is kept."""
    window = LatencyWindow(SPAN, buckets=6)
    for i in range(5000):
        window.add(T0 + i * 0.05, float(i % 700 + 1))
    assert len(window._queue) <= 6
    now = T0 + 249.96
    assert window.count(now) == sum(_inside(T0 + i * 0.05, now, SPAN, 6) for i in range(5000))


@given(
    values=st.lists(st.floats(MIN_MS, MAX_MS / RATIO), min_size=1, max_size=200),
    q=st.floats(0, 100),
)
def test_latency_percentile_within_bin_resolution(values: list[float], q: float) -> None:
    """Any percentile is within the bin resolution of the exact nearest-rank percentile."""
    window = LatencyWindow(SPAN)
    for ms in values:
        window.add(T0, ms)
    assert _close(window.percentile(T0, q), _nearest_rank(values, q))


# ---------------------------------------------------------------- HighWater


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (10.0, Decimal(100)),  # both observations inside
        (59.9, Decimal(100)),
        (60.0, Decimal(90)),  # the 100 from t=0 has expired, the 90 from t=10 not yet
        (70.0, None),  # both expired
    ],
)
def test_high_water_expiry(now: float, expected: Decimal | None) -> None:
    """The peak only counts values observed inside the window."""
    high = HighWater(SPAN)
    high.observe(T0, Decimal(100))
    high.observe(T0 + 10, Decimal(90))
    assert high.peak(T0 + now) == expected


def test_high_water_shift_moves_retained_values() -> None:
    """A shift moves every retained value, and later values are taken as they come."""
    high = HighWater(SPAN)
    high.observe(T0, Decimal(100))
    high.shift(Decimal(-30))
    assert high.peak(T0) == Decimal(70)
    high.observe(T0 + 1, Decimal(75))
    assert high.peak(T0 + 1) == Decimal(75)


def test_high_water_memory_stays_bounded() -> None:
    """Falling values in one bucket do not pile up."""
    high = HighWater(SPAN, buckets=4)
    for i in range(1000):
        high.observe(T0 + i * 0.01, Decimal(-i))
    assert len(high._queue) <= 4
    assert high.peak(T0 + 9.99) == Decimal(0)


@given(
    ops=st.lists(
        st.tuples(
            st.floats(0, 3, allow_nan=False),
            st.booleans(),
            st.decimals(-1000, 1000, places=2, allow_nan=False, allow_infinity=False),
        ),
        max_size=60,
    )
)
def test_high_water_matches_brute_force(ops: list[tuple[float, bool, Decimal]]) -> None:
    """The peak equals the maximum of the retained values, each moved by the later shifts."""
    span, buckets = 10.0, 5
    high = HighWater(span, buckets)
    now = T0
    seen: list[tuple[float, Decimal]] = []
    for step, is_shift, amount in ops:
        now += step
        if is_shift:
            high.shift(amount)
            seen = [(t, v + amount) for t, v in seen]
        else:
            high.observe(now, amount)
            seen.append((now, amount))
        inside = [v for t, v in seen if _inside(t, now, span, buckets)]
        assert high.peak(now) == (max(inside) if inside else None)
