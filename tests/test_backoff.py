"""One backoff for every retry: doubling, capped, with jitter taken off the top."""

from __future__ import annotations

import pytest

from hippo_core.backoff import Backoff


@pytest.mark.parametrize(
    ("initial", "maximum", "factor", "failures", "ceiling", "why"),
    [
        (1.0, 900.0, 2.0, 1, 1.0, "the first failure waits the initial delay"),
        (1.0, 900.0, 2.0, 2, 2.0, "each failure doubles it"),
        (1.0, 900.0, 2.0, 5, 16.0, "the fifth waits 2**4 times as long"),
        (1.0, 900.0, 2.0, 11, 900.0, "capped at the maximum"),
        (30.0, 900.0, 2.0, 0, 30.0, "no failures counts as the first"),
        (0.5, 15.0, 3.0, 3, 4.5, "another factor"),
        (1.0, 60.0, 2.0, 10_000, 60.0, "a very long outage stays at the cap"),
    ],
)
def test_the_ceiling_doubles_up_to_the_cap(initial, maximum, factor, failures, ceiling, why):
    assert Backoff(initial, maximum, factor=factor).ceiling(failures) == ceiling, why


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 8.0), (0.5, 6.0), (1.0, 4.0)])
def test_jitter_takes_a_random_share_off_the_ceiling(draw, expected):
    backoff = Backoff(1.0, 100.0, jitter=0.5, random=lambda: draw)
    assert backoff.delay(4) == expected


def test_delays_stay_between_the_jittered_floor_and_the_ceiling():
    backoff = Backoff(2.0, 100.0, jitter=0.25)
    delays = [backoff.delay(3) for _ in range(500)]
    assert all(6.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 1, "jitter spreads retries apart"


def test_next_counts_failures_and_reset_starts_over():
    backoff = Backoff(1.0, 100.0, jitter=0.0)
    assert [backoff.next() for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff.failures == 4
    backoff.reset()
    assert backoff.next() == 1.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial": 0.0, "maximum": 1.0}, "0 < initial <= maximum"),
        ({"initial": 5.0, "maximum": 1.0}, "0 < initial <= maximum"),
        ({"initial": 1.0, "maximum": 2.0, "factor": 0.5}, "factor >= 1"),
        ({"initial": 1.0, "maximum": 2.0, "jitter": 1.5}, "jitter in"),
    ],
)
def test_nonsense_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        Backoff(**options)


def test_next_grows_to_its_cap_with_jitter_and_resets():
    backoff = Backoff(initial=1.0, maximum=8.0)
    delays = [backoff.next() for _ in range(8)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next() <= 1.0
