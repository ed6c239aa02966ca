"""Refuse filters: how long to refuse what an offer round leaves unused, and when to take them back.

Declining resources with a refuse filter keeps the cluster from offering them again
and again while Hippo has no use for them; but a filter also holds them back from
work that arrives while it lasts. So:

- what no waiting task could use (every one is too big for it, or its constraints
  rule the agent out) is refused for the long ``refuse_seconds``;
- what a waiting task could use but did not get (its family is at
  ``max_concurrent``, or it was beyond this round's batch) is refused only for
  ``SHORT_REFUSE_SECONDS``: a slot may free up any moment;
- while a long filter may be in force, pending work the last round did not weigh
  (a new task, a retry, anything pending after reconciliation) is reason to REVIVE,
  which clears every filter, as Marathon does.

Pure bookkeeping; the scheduler carries it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hippo_core.backend import Offer
from hippo_core.constraints import PlacedIndex, Placement, first_unmet
from hippo_core.placement import PendingTask, Plan

SHORT_REFUSE_SECONDS = 1.0
_SLACK = 1e-6


@dataclass(frozen=True)
class Leftover:
    """What one agent's offers keep after a round's launches there."""

    offer: Offer  # for its hostname and attributes
    offer_ids: tuple[str, ...]
    cpus: float
    mem: float


def leftovers(offers: Sequence[Offer], plan: Plan) -> dict[str, Leftover]:
    """Per agent: its offers of this round, less what the plan launches on them."""
    pooled: dict[str, Leftover] = {}
    for offer in offers:
        known = pooled.get(offer.agent_id)
        if known is None:
            pooled[offer.agent_id] = Leftover(offer, (offer.id,), offer.cpus, offer.mem)
        else:
            pooled[offer.agent_id] = Leftover(
                known.offer, (*known.offer_ids, offer.id), known.cpus + offer.cpus, known.mem + offer.mem
            )
    for launch in plan.launches:
        left = pooled[launch.agent_id]
        cpus = left.cpus - sum(t.cpus for t in launch.tasks)
        mem = left.mem - sum(t.mem for t in launch.tasks)
        pooled[launch.agent_id] = Leftover(left.offer, left.offer_ids, cpus, mem)
    return pooled


def could_use(
    left: Leftover, waiting: Iterable[PendingTask], placed: Mapping[str, Sequence[Placement]]
) -> bool:
    """Whether some waiting task fits ``left`` and its constraints allow the agent now."""
    for task in waiting:
        if task.cpus > left.cpus + _SLACK or task.mem > left.mem + _SLACK:
            continue
        if (
            not task.constraints
            or first_unmet(task.constraints, left.offer, PlacedIndex(placed.get(task.group, ()))) is None
        ):
            return True
    return False


class FilterWatch:
    """Whether refuse filters Hippo set may be holding offers back, and from which work.

    ``weighed`` names the tasks the latest offer round looked at and left pending; a
    pending task outside it (new, a retry, one launched and back), while a filter may
    last, is work the filters may hide.
    """

    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() when the longest filter set since the last REVIVE ends
        self.weighed: set[str] = set()

    def refused(self, seconds: float, now: float) -> None:
        if seconds > 0:
            self.until = max(self.until, now + seconds)

    def round_weighed(self, task_ids: Iterable[str]) -> None:
        self.weighed = set(task_ids)

    def unseen(self, pending_ids: Iterable[str], now: float) -> list[str]:
        """Pending tasks no offer round weighed while a filter may still hold offers back."""
        if now >= self.until:
            return []
        return [task_id for task_id in pending_ids if task_id not in self.weighed]

    def revived(self, task_ids: Iterable[str]) -> None:
        """A REVIVE went out (filters cleared) for these tasks: do not revive for them again."""
        self.until = 0.0
        self.weighed.update(task_ids)
