"""The load test's figures on known samples."""

from __future__ import annotations

import math

import pytest

from loadtest.stats import Sample, Summary, percentile


def test_percentiles_interpolate_between_closest_ranks_like_numpy():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 90) == pytest.approx(90.1)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_percentiles_of_one_value_are_that_value_and_of_none_nan():
    assert percentile([0.7], 99) == 0.7
    assert math.isnan(percentile([], 50))


def test_a_summary_counts_errors_by_kind_and_times_only_successes():
    samples = [Sample(0.0, 1.0, 200, 2), Sample(0.1, 3.0, 200, 1), Sample(0.2, 0.01, 429, 5, retry_after="2"),
               Sample(0.3, 0.02, 429, 1), Sample(0.4, 30.0, 0, 1, error="timeout")]
    summary = Summary.of(samples, wall_s=2.0)
    assert (summary.requests, summary.ok) == (5, 2)
    assert summary.errors == {"429": 2, "timeout": 1}
    assert summary.error_rate == pytest.approx(0.6)
    assert summary.requests_per_s == pytest.approx(1.0)
    assert summary.pages_per_s == pytest.approx(1.5)
    assert summary.latency_s["p50"] == pytest.approx(2.0) and summary.latency_s["max"] == 3.0


def test_a_point_without_successes_has_no_latency_in_json():
    summary = Summary.of([Sample(0.0, 0.5, 503, 1)], wall_s=1.0)
    assert summary.to_json()["latency_s"]["p99"] is None
    assert summary.to_json()["error_rate"] == 1.0


def test_the_memory_slope_is_the_least_squares_line_in_mib_per_hour():
    from loadtest.soak import MIB, slope_mib_per_hour

    growing = [(t * 60.0, 500 * MIB + t * MIB) for t in range(10)]  # 1 MiB a minute
    assert slope_mib_per_hour(growing) == pytest.approx(60.0)
    flat_with_noise = [(0.0, 100 * MIB), (60.0, 101 * MIB), (120.0, 100 * MIB), (180.0, 101 * MIB)]
    assert abs(slope_mib_per_hour(flat_with_noise)) < 15
    assert slope_mib_per_hour([(0.0, MIB)]) == 0.0
