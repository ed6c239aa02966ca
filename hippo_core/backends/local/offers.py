"""The local agent's books: what is free, and whether to offer it now.

Follows the Mesos allocator where Hippo can tell: one offer at a time holds all free
resources; a refuse filter (from a decline, or the unused rest of an accept) holds
back what was free then for its seconds, but resources freed later are offered at
once; ``suppress`` stops offers until ``revive``, which also clears the filter. An
offer nobody answers is made again every ``interval`` seconds.

Not thread-safe: the backend calls it under its lock, with ``now`` from
``time.monotonic()``.
"""

from __future__ import annotations

import uuid

from hippo_core.backend import Offer

# Less than this is not worth offering (no task asks for under 4 MB; cpus are fractions).
MIN_CPUS = 0.01
MIN_MEM = 1.0
# Room for rounding when launches add up to exactly what was offered.
EPSILON = 1e-6


class OfferBook:
    def __init__(self, agent_id: str, hostname: str, cpus: float, mem: float, interval: float) -> None:
        self.agent_id = agent_id
        self.hostname = hostname
        self.cpus = cpus
        self.mem = mem
        self.interval = interval
        self.outstanding: Offer | None = None
        self._prefix = f"{agent_id}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._used = (0.0, 0.0)
        self._suppressed = False
        self._filter_until = 0.0
        self._filter_free = (0.0, 0.0)
        self._offered_free: tuple[float, float] | None = None
        self._last_offer_at = float("-inf")

    def free(self) -> tuple[float, float]:
        return self.cpus - self._used[0], self.mem - self._used[1]

    def take(self, cpus: float, mem: float) -> None:
        self._used = (self._used[0] + cpus, self._used[1] + mem)

    def give_back(self, cpus: float, mem: float) -> None:
        self._used = (max(0.0, self._used[0] - cpus), max(0.0, self._used[1] - mem))

    def answer(self, offer_ids: list[str]) -> Offer | None:
        """The outstanding offer if ``offer_ids`` name it (it is answered now), else ``None``."""
        offer = self.outstanding
        if offer is None or offer.id not in offer_ids:
            return None
        self.outstanding = None
        return offer

    def withdraw(self, offer: Offer, now: float) -> bool:
        """Take back ``offer`` if still unanswered; it is made again after ``interval``."""
        self._last_offer_at = now
        if self.outstanding is not offer:
            return False
        self.outstanding = None
        return True

    def refuse(self, seconds: float, now: float) -> None:
        if seconds > 0:
            self._filter_until = now + seconds
            self._filter_free = self.free()

    def suppress(self) -> None:
        self._suppressed = True

    def revive(self) -> None:
        self._suppressed = False
        self._filter_until = 0.0

    def next_offer(self, now: float) -> tuple[Offer | None, float]:
        """The offer to make now (then outstanding), or ``None`` and how long until one may be due."""
        if self._suppressed or self.outstanding is not None:
            return None, float("inf")
        free = self.free()
        if free[0] < MIN_CPUS or free[1] < MIN_MEM:
            return None, float("inf")
        if now < self._filter_until and _within(free, self._filter_free):
            return None, self._filter_until - now
        if free == self._offered_free and now < self._last_offer_at + self.interval:
            return None, self._last_offer_at + self.interval - now
        self._seq += 1
        self.outstanding = Offer(
            id=f"{self._prefix}-O{self._seq}",
            agent_id=self.agent_id,
            hostname=self.hostname,
            cpus=round(free[0], 6),
            mem=round(free[1], 6),
        )
        self._offered_free = free
        self._last_offer_at = now
        return self.outstanding, 0.0


def _within(free: tuple[float, float], held: tuple[float, float]) -> bool:
    return free[0] <= held[0] + EPSILON and free[1] <= held[1] + EPSILON
