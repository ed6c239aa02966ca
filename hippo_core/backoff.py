"""Exponential backoff with jitter: how long to wait after consecutive failures.

One rule for every retry in Hippo (reconnecting to Mesos, polling a failing source,
asking again about unreconciled tasks, re-delivering a backend's events): the delay
doubles with each consecutive failure up to a cap, and a random share of it is taken
off, so that many waiters that failed together (every queue of one database, every
worker of one Redis) do not all retry in the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays of ``initial``, ``initial * factor``, ... capped at ``maximum``.

    ``jitter`` is the share of each delay that is random: a delay ``d`` becomes a
    value between ``d * (1 - jitter)`` and ``d``. Use :meth:`delay` when the count of
    failures is kept elsewhere (stored with a queue), :meth:`next` and :meth:`reset`
    to let the backoff count them itself.
    """

    initial: float
    maximum: float
    factor: float = 2.0
    jitter: float = 0.5
    random: Callable[[], float] = field(default=random.random, repr=False)
    _failures: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {self.initial} and {self.maximum}")
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError(
                f"backoff needs factor >= 1 and jitter in [0, 1], got {self.factor}, {self.jitter}"
            )

    def ceiling(self, failures: int) -> float:
        """The delay after the ``failures``-th consecutive failure, before jitter."""
        # Capped exponent: a long outage must not overflow the float.
        exponent = min(max(0, failures - 1), 64)
        return min(self.maximum, self.initial * self.factor**exponent)

    def delay(self, failures: int) -> float:
        """A delay after the ``failures``-th consecutive failure (1 for the first)."""
        ceiling = self.ceiling(failures)
        return ceiling * (1 - self.jitter * self.random())

    def next(self) -> float:
        """The delay after one more failure."""
        self._failures += 1
        return self.delay(self._failures)

    def reset(self) -> None:
        """A success: the next failure waits ``initial`` again."""
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures
