"""Matching pending tasks to offers: packing, limits, constraints within a plan, reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hippo_core.backend import Offer
from hippo_core.constraints import Placement, parse_constraints
from hippo_core.placement import Capacity, PendingTask, Plan, never_fits, plan


def offer(agent: str, cpus: float = 4, mem: float = 4096, offer_id: str | None = None, **attrs: str) -> Offer:
    return Offer(
        id=offer_id or f"o-{agent}",
        agent_id=f"ag-{agent}",
        hostname=agent,
        cpus=cpus,
        mem=mem,
        attributes=attrs,
    )


def task(
    task_id: str,
    group: str = "q",
    cpus: float = 1,
    mem: float = 128,
    constraints: list | None = None,
    max_concurrent: int | None = None,
) -> PendingTask:
    return PendingTask(task_id, group, cpus, mem, tuple(parse_constraints(constraints)), max_concurrent)


def tasks(count: int, **kwargs: object) -> list[PendingTask]:
    return [task(f"t{i}", **kwargs) for i in range(1, count + 1)]  # type: ignore[arg-type]


@dataclass
class Case:
    proves: str
    offers: list[Offer]
    pending: list[PendingTask]
    # hostname -> task ids launched there, in order
    launched: dict[str, list[str]]
    # task id -> text its waiting reason must contain
    waiting: dict[str, str] = field(default_factory=dict)
    placed: dict[str, list[Placement]] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    capacity: Capacity | None = None


RACKS = [offer("a1", rack="r1"), offer("a2", rack="r1"), offer("a3", rack="r2")]

CASES = [
    Case(
        "several tasks pack onto one offer while cpus fit, the rest wait",
        [offer("a1", cpus=4)],
        tasks(5),
        {"a1": ["t1", "t2", "t3", "t4"]},
        {"t5": "taken by higher-priority tasks"},
    ),
    Case(
        "first fit: the first offer fills up before the second is used",
        [offer("a1", cpus=2), offer("a2", cpus=2)],
        tasks(3),
        {"a1": ["t1", "t2"], "a2": ["t3"]},
    ),
    Case(
        "mem runs out before cpus do",
        [offer("a1", cpus=8, mem=1000)],
        tasks(3, mem=400),
        {"a1": ["t1", "t2"]},
        {"t3": "taken by higher-priority tasks"},
    ),
    Case(
        "fractional cpus add up to an exact fit",
        [offer("a1", cpus=0.3)],
        tasks(3, cpus=0.1),
        {"a1": ["t1", "t2", "t3"]},
    ),
    Case(
        "a task too big for what is left does not block a smaller one after it",
        [offer("a1", cpus=3)],
        [task("big", cpus=2), task("bigger", cpus=2), task("small", cpus=1)],
        {"a1": ["big", "small"]},
        {"bigger": "taken by higher-priority tasks"},
    ),
    Case(
        "offers of one agent are pooled: a task may use more than one offer holds",
        [offer("a1", cpus=2, offer_id="o1"), offer("a1", cpus=2, offer_id="o2")],
        [task("t1", cpus=3)],
        {"a1": ["t1"]},
    ),
    Case(
        "no offers at all",
        [],
        tasks(1),
        {},
        {"t1": "waiting for offers"},
    ),
    Case(
        "too big for any offer now, and no capacity known: wait for a bigger offer",
        [offer("a1", cpus=2, mem=512), offer("a2", cpus=1, mem=1024)],
        [task("t1", cpus=8, mem=256)],
        {},
        {"t1": "waiting for an offer with 8 cpus and 256 MB mem (largest now: 2 cpus, 512 MB"},
    ),
    Case(
        "too big for any agent ever seen",
        [offer("a1", cpus=2)],
        [task("t1", cpus=64), task("t2", cpus=1)],
        {"a1": ["t2"]},
        {"t1": "no agent with 64 cpus (largest has 16)"},
        capacity=Capacity(cpus=16, mem=65536),
    ),
    Case(
        "max_concurrent counts active tasks and those launched earlier in the plan",
        [offer("a1", cpus=8)],
        tasks(3, max_concurrent=5),
        {"a1": ["t1"]},
        {"t2": "max_concurrent 5 reached for this group", "t3": "max_concurrent 5 reached"},
        active={"q": 4},
    ),
    Case(
        "without an active count, the group's placed tasks are its active ones",
        [offer("a1", cpus=8)],
        tasks(2, max_concurrent=2),
        {"a1": ["t1"]},
        {"t2": "max_concurrent 2 reached"},
        placed={"q": [Placement("a9")]},
    ),
    Case(
        "max_concurrent is per group",
        [offer("a1", cpus=8)],
        [task("q1", max_concurrent=1), task("q2", max_concurrent=1), task("o1", group="other")],
        {"a1": ["q1", "o1"]},
        {"q2": "max_concurrent 1 reached"},
    ),
    Case(
        "max_concurrent 0 holds every task of the group back, even with no offers",
        [],
        tasks(1, max_concurrent=0),
        {},
        {"t1": "max_concurrent 0 reached"},
    ),
    Case(
        "UNIQUE hostname: tasks placed earlier in the plan count",
        [offer("a1", cpus=8), offer("a2", cpus=8)],
        tasks(3, constraints=[["hostname", "UNIQUE"]]),
        {"a1": ["t1"], "a2": ["t2"]},
        {
            "t3": "constraint hostname UNIQUE not met by any of 2 offers "
            "(e.g. hostname a1 already runs a task of this group (UNIQUE))"
        },
    ),
    Case(
        "UNIQUE hostname: tasks already running count",
        [offer("a1", cpus=8), offer("a2", cpus=8)],
        tasks(2, constraints=[["hostname", "UNIQUE"]]),
        {"a2": ["t1"]},
        {"t2": "constraint hostname UNIQUE not met"},
        placed={"q": [Placement("a1")]},
    ),
    Case(
        "UNIQUE is per group: another group may share the host",
        [offer("a1", cpus=8)],
        [
            task("q1", constraints=[["hostname", "UNIQUE"]]),
            task("o1", group="other", constraints=[["hostname", "UNIQUE"]]),
        ],
        {"a1": ["q1", "o1"]},
    ),
    Case(
        "MAX_PER rack: at most 2 per rack, counting this plan's launches",
        RACKS,
        tasks(5, constraints=[["rack", "MAX_PER", "2"]]),
        {"a1": ["t1", "t2"], "a3": ["t3", "t4"]},
        {"t5": "constraint rack MAX_PER 2 not met by any of 3 offers"},
    ),
    Case(
        "GROUP_BY rack with a count: spread evenly although the first agent has room for all",
        RACKS,
        tasks(4, constraints=[["rack", "GROUP_BY", "2"]]),
        {"a1": ["t1", "t3"], "a3": ["t2", "t4"]},
    ),
    Case(
        "GROUP_BY rack with a count: the less used rack is filled first",
        RACKS,
        tasks(2, constraints=[["rack", "GROUP_BY", "2"]]),
        {"a3": ["t1", "t2"]},
        placed={"q": [Placement("x", {"rack": "r1"}), Placement("y", {"rack": "r1"})]},
    ),
    Case(
        "GROUP_BY without a count only knows the values in use (Marathon's documented caveat)",
        RACKS,
        tasks(4, constraints=[["rack", "GROUP_BY"]]),
        {"a1": ["t1", "t2", "t3", "t4"]},
    ),
    Case(
        "GROUP_BY without a count still evens out the values already in use",
        RACKS,
        tasks(2, constraints=[["rack", "GROUP_BY"]]),
        {"a3": ["t1"], "a1": ["t2"]},
        placed={
            "q": [
                Placement("x", {"rack": "r1"}),
                Placement("y", {"rack": "r2"}),
                Placement("z", {"rack": "r1"}),
            ]
        },
    ),
    Case(
        "CLUSTER without a value: the plan's first task picks the host, the rest follow",
        [offer("a1", cpus=2), offer("a2", cpus=8)],
        tasks(3, constraints=[["hostname", "CLUSTER"]]),
        {"a1": ["t1", "t2"]},
        {"t3": "taken by higher-priority tasks"},
    ),
    Case(
        "CLUSTER without a value follows where the group already runs",
        [offer("a1", cpus=8), offer("a2", cpus=8)],
        tasks(1, constraints=[["hostname", "CLUSTER"]]),
        {"a2": ["t1"]},
        placed={"q": [Placement("a2")]},
    ),
    Case(
        "several unmet constraints are named in the task's order",
        [offer("a1", rack="r2"), offer("a2")],
        [task("t1", constraints=[["rack", "IS", "r2"], ["hostname", "LIKE", "b.*"]])],
        {},
        {"t1": "constraints rack IS r2, hostname LIKE b.* not met by any of 2 offers"},
    ),
    Case(
        "a single offer is named as such",
        [offer("a1")],
        [task("t1", constraints=[["rack", "IS", "r2"]])],
        {},
        {"t1": "constraint rack IS r2 not met by the offer (e.g. agent a1 has no attribute rack"},
    ),
    Case(
        "an offer meeting constraints but too small: resources are the reason",
        [offer("a1", cpus=1, rack="r1"), offer("a2", cpus=8, rack="r2")],
        [task("t1", cpus=4, constraints=[["rack", "IS", "r1"]])],
        {},
        {
            "t1": "waiting for an offer that meets its constraints with 4 cpus and 128 MB mem "
            "(largest now: 1 cpus, 4096 MB mem)"
        },
    ),
]


def launched_by_host(result: Plan) -> dict[str, list[str]]:
    return {launch.hostname: [t.task_id for t in launch.tasks] for launch in result.launches}


@pytest.mark.parametrize("case", CASES, ids=[c.proves for c in CASES])
def test_plan(case: Case) -> None:
    result = plan(case.offers, case.pending, case.placed, case.active, case.capacity)
    assert launched_by_host(result) == case.launched
    assert set(result.waiting) == set(case.waiting)
    for task_id, text in case.waiting.items():
        assert text in result.waiting[task_id], result.waiting[task_id]
    assert_accounts_for_everything(case.offers, case.pending, result)


def assert_accounts_for_everything(offers: list[Offer], pending: list[PendingTask], result: Plan) -> None:
    """Every task launches once or waits with a reason; every offer is used or declined."""
    launched = [t.task_id for launch in result.launches for t in launch.tasks]
    assert len(launched) == len(set(launched))
    assert sorted(launched + list(result.waiting)) == sorted(t.task_id for t in pending)
    used = [oid for launch in result.launches for oid in launch.offer_ids]
    assert sorted(used + list(result.decline)) == sorted(o.id for o in offers)


def test_launch_names_the_agent_and_all_its_offers() -> None:
    # A launch carries what Backend.accept needs: every offer id of the one agent used.
    offers = [offer("a1", cpus=2, offer_id="o1"), offer("a2"), offer("a1", cpus=2, offer_id="o3")]
    result = plan(offers, [task("t1", cpus=3)], {}, {})
    [launch] = result.launches
    assert (launch.agent_id, launch.hostname, launch.offer_ids) == ("ag-a1", "a1", ("o1", "o3"))
    assert result.decline == ("o-a2",)


def test_unused_offers_are_declined() -> None:
    # Offers left without a launch are declined, including when nothing is pending.
    offers = [offer("a1"), offer("a2")]
    assert plan(offers, [], {}, {}).decline == ("o-a1", "o-a2")
    assert plan(offers, tasks(1), {}, {}).decline == ("o-a2",)


def test_plan_leaves_its_inputs_alone() -> None:
    # Planning twice from the same inputs gives the same plan: nothing passed in is mutated.
    placed = {"q": [Placement("a1")]}
    pending = tasks(3, constraints=[["hostname", "UNIQUE"]])
    offers = [offer("a1"), offer("a2"), offer("a3")]
    first = plan(offers, pending, placed, {"q": 1})
    assert placed == {"q": [Placement("a1")]}
    assert plan(offers, pending, placed, {"q": 1}) == first


# (cpus, mem, capacity, None or the reason, what it proves)
NEVER_FITS = [
    (4, 1024, Capacity(4, 1024), None, "an exact fit fits"),
    (0.1 + 0.2, 1024, Capacity(0.3, 1024), None, "float noise does not make it too big"),
    (64, 1024, Capacity(16, 4096), "no agent with 64 cpus (largest has 16)", "cpus too big"),
    (1, 8192, Capacity(16, 4096), "no agent with 8192 MB mem (largest has 4096 MB)", "mem"),
    (
        64,
        8192,
        Capacity(16, 4096),
        "no agent with 64 cpus (largest has 16); no agent with 8192 MB mem (largest has 4096 MB)",
        "both too big",
    ),
]


@pytest.mark.parametrize(
    ("cpus", "mem", "capacity", "reason", "proves"), NEVER_FITS, ids=[c[4] for c in NEVER_FITS]
)
def test_never_fits(cpus: float, mem: float, capacity: Capacity, reason: str | None, proves: str) -> None:
    assert never_fits(cpus, mem, capacity) == reason


def test_capacity_of_offers_adds_up_each_agent() -> None:
    # An agent's offers are added up; the largest agent per resource is kept.
    offers = [
        offer("a1", cpus=2, mem=100, offer_id="o1"),
        offer("a1", cpus=3, mem=100, offer_id="o2"),
        offer("a2", cpus=4, mem=1000),
    ]
    assert Capacity.of(offers) == Capacity(cpus=5, mem=1000)
    assert Capacity.of([]) == Capacity(0, 0)


def test_capacity_widen_remembers_the_largest() -> None:
    assert Capacity(8, 100).widen(Capacity(4, 200)) == Capacity(8, 200)
