"""Match pending tasks to offers: which task launches where, and why the rest wait.

Pure: the scheduler gathers offers, pending tasks (in priority order) and where each
group's active tasks run, asks ``plan`` for a ``Plan``, then carries it out.

Offers from the same agent are pooled, so a task may use resources Mesos split over
several offers of one agent; each ``Launch`` names all of that agent's offer ids.
Tasks are taken in priority order, each on the first agent with room for its cpus
and mem whose placement meets its constraints (first fit), so several tasks pack
onto one agent while they fit. A task placed earlier in the plan counts, for the
tasks after it, both as placed (constraints) and as active (``max_concurrent``).
Work is bounded by tasks x agents x constraints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hippo_core.backend import Offer
from hippo_core.constraints import Constraint, PlacedIndex, Placement, first_unmet

# Resources are floats (0.1 cpus); summing and subtracting them must not turn an
# exact fit into a miss.
_SLACK = 1e-6


@dataclass(frozen=True)
class PendingTask:
    """A task waiting to launch. ``max_concurrent`` None means its group has no limit."""

    task_id: str
    group: str
    cpus: float
    mem: float
    constraints: tuple[Constraint, ...] = ()
    max_concurrent: int | None = None


@dataclass(frozen=True)
class Capacity:
    """The largest cpus and mem (MB) any one agent is known to have."""

    cpus: float = 0.0
    mem: float = 0.0

    @classmethod
    def of(cls, offers: Iterable[Offer]) -> Capacity:
        """The largest agent seen in ``offers`` (an agent's offers are added up)."""
        cpus: dict[str, float] = {}
        mem: dict[str, float] = {}
        for offer in offers:
            cpus[offer.agent_id] = cpus.get(offer.agent_id, 0.0) + offer.cpus
            mem[offer.agent_id] = mem.get(offer.agent_id, 0.0) + offer.mem
        return cls(max(cpus.values(), default=0.0), max(mem.values(), default=0.0))

    def widen(self, other: Capacity) -> Capacity:
        """The larger of the two in each resource: to remember the largest agent ever seen."""
        return Capacity(max(self.cpus, other.cpus), max(self.mem, other.mem))


def never_fits(cpus: float, mem: float, capacity: Capacity) -> str | None:
    """Why a task of ``cpus`` and ``mem`` fits no agent of ``capacity``, or None if one can."""
    missing = []
    if cpus > capacity.cpus + _SLACK:
        missing.append(f"no agent with {_amount(cpus)} cpus (largest has {_amount(capacity.cpus)})")
    if mem > capacity.mem + _SLACK:
        missing.append(f"no agent with {_amount(mem)} MB mem (largest has {_amount(capacity.mem)} MB)")
    return "; ".join(missing) or None


@dataclass(frozen=True)
class Launch:
    """Tasks to start together on one agent, accepting all of that agent's offers."""

    agent_id: str
    hostname: str
    offer_ids: tuple[str, ...]
    tasks: tuple[PendingTask, ...]


@dataclass(frozen=True)
class Plan:
    """What to do with one round of offers.

    Every pending task appears either in one of ``launches`` or in ``waiting`` (task
    id to reason); every offer either in a launch or in ``decline``.
    """

    launches: tuple[Launch, ...]
    decline: tuple[str, ...]
    waiting: Mapping[str, str]


class _Agent:
    """The pooled offers of one agent, and what this plan has put on it so far."""

    def __init__(self, offer: Offer) -> None:
        self.offer = offer  # hostname and attributes, for constraints
        self.offer_ids = [offer.id]
        self.cpus = self.free_cpus = offer.cpus
        self.mem = self.free_mem = offer.mem
        self.tasks: list[PendingTask] = []

    def pool(self, offer: Offer) -> None:
        self.offer_ids.append(offer.id)
        self.cpus += offer.cpus
        self.free_cpus += offer.cpus
        self.mem += offer.mem
        self.free_mem += offer.mem

    def has_room(self, task: PendingTask) -> bool:
        return task.cpus <= self.free_cpus + _SLACK and task.mem <= self.free_mem + _SLACK

    def had_room(self, task: PendingTask) -> bool:
        """Room before this plan launched anything here."""
        return task.cpus <= self.cpus + _SLACK and task.mem <= self.mem + _SLACK

    def take(self, task: PendingTask) -> None:
        self.tasks.append(task)
        self.free_cpus -= task.cpus
        self.free_mem -= task.mem


class _Group:
    def __init__(self, placed: Sequence[Placement], active: int) -> None:
        self.placed = PlacedIndex(placed)
        self.active = active


def plan(
    offers: Sequence[Offer],
    pending: Sequence[PendingTask],
    placed: Mapping[str, Sequence[Placement]],
    active: Mapping[str, int],
    capacity: Capacity | None = None,
) -> Plan:
    """Decide which of ``pending`` (highest priority first) launch on which offers.

    ``placed`` maps a group to where its active tasks run, in launch order; ``active``
    to its number of active tasks (defaulting to the length of ``placed``), which may
    include tasks whose agent is not known yet. ``capacity`` is the largest agent
    known; with it, a task too big for every agent says so instead of waiting quietly.
    """
    agents = _pool(offers)
    groups: dict[str, _Group] = {}
    waiting: dict[str, str] = {}
    for task in pending:
        group = groups.get(task.group)
        if group is None:
            runs_on = placed.get(task.group, ())
            group = groups[task.group] = _Group(runs_on, active.get(task.group, len(runs_on)))
        reason = _blocked(task, group, capacity, bool(agents))
        if reason is None:
            reason = _place(task, group, agents)
        if reason is not None:
            waiting[task.task_id] = reason
    launches = tuple(
        Launch(a.offer.agent_id, a.offer.hostname, tuple(a.offer_ids), tuple(a.tasks))
        for a in agents
        if a.tasks
    )
    decline = tuple(offer_id for a in agents if not a.tasks for offer_id in a.offer_ids)
    return Plan(launches, decline, waiting)


def _pool(offers: Sequence[Offer]) -> list[_Agent]:
    by_agent: dict[str, _Agent] = {}
    for offer in offers:
        agent = by_agent.get(offer.agent_id)
        if agent is None:
            by_agent[offer.agent_id] = _Agent(offer)
        else:
            agent.pool(offer)
    return list(by_agent.values())


def _blocked(task: PendingTask, group: _Group, capacity: Capacity | None, any_offers: bool) -> str | None:
    """A reason the task cannot launch that does not depend on which offer is looked at."""
    if task.max_concurrent is not None and group.active >= task.max_concurrent:
        return f"max_concurrent {task.max_concurrent} reached for this group"
    if capacity is not None:
        too_big = never_fits(task.cpus, task.mem, capacity)
        if too_big is not None:
            return too_big
    if not any_offers:
        return "waiting for offers"
    return None


def _place(task: PendingTask, group: _Group, agents: Sequence[_Agent]) -> str | None:
    """Put the task on the first agent that takes it; else say why none does."""
    refusals: dict[Constraint, str] = {}
    eligible: list[_Agent] = []
    for agent in agents:
        failed = first_unmet(task.constraints, agent.offer, group.placed)
        if failed is not None:
            refusals.setdefault(*failed)
            continue
        if agent.has_room(task):
            agent.take(task)
            group.placed.add(Placement.on(agent.offer))
            group.active += 1
            return None
        eligible.append(agent)
    if not eligible:
        return _constraints_reason(task, refusals, len(agents))
    if any(agent.had_room(task) for agent in eligible):
        return "offers that meet its needs were taken by higher-priority tasks; waiting for more"
    largest = max(eligible, key=lambda a: (a.cpus, a.mem))
    such = " that meets its constraints" if task.constraints else ""
    return (
        f"waiting for an offer{such} with {_amount(task.cpus)} cpus and {_amount(task.mem)} MB "
        f"mem (largest now: {_amount(largest.cpus)} cpus, {_amount(largest.mem)} MB mem)"
    )


def _constraints_reason(task: PendingTask, refusals: dict[Constraint, str], offers: int) -> str:
    # Name the failing constraints in the order the task lists them, with one example.
    failing = [c for c in task.constraints if c in refusals]
    names = ", ".join(str(c) for c in failing)
    noun = "constraint" if len(failing) == 1 else "constraints"
    example = refusals[failing[0]]
    offers_text = "the offer" if offers == 1 else f"any of {offers} offers"
    return f"{noun} {names} not met by {offers_text} (e.g. {example})"


def _amount(value: float) -> str:
    """64.0 as "64", 0.25 as "0.25": how people write cpus and MB."""
    return f"{round(value, 3):f}".rstrip("0").rstrip(".")
