"""Refuse filters: which leftovers a waiting task could use, and which pending work is new."""

from __future__ import annotations

import pytest

from hippo_core.backend import Offer
from hippo_core.constraints import Placement, parse_constraints
from hippo_core.offer_filters import FilterWatch, Leftover, could_use, leftovers
from hippo_core.placement import Launch, PendingTask, Plan

OFFER = Offer("o1", "a1", "host1", cpus=2.0, mem=1024.0, attributes={"rack": "r1"})
LEFT = Leftover(OFFER, ("o1",), cpus=2.0, mem=1024.0)


def _task(
    cpus: float = 1.0, mem: float = 128.0, constraints: list | None = None, group: str = "g"
) -> PendingTask:
    return PendingTask("t", group, cpus, mem, tuple(parse_constraints(constraints or [])))


# (what it proves, waiting tasks, where their groups run, could use the leftover)
CASES = [
    ("nothing waits", [], {}, False),
    ("a task that fits", [_task()], {}, True),
    ("an exact fit", [_task(cpus=2.0, mem=1024.0)], {}, True),
    ("too many cpus", [_task(cpus=2.5)], {}, False),
    ("too much mem", [_task(mem=2048.0)], {}, False),
    ("one of several fits", [_task(cpus=64), _task(cpus=0.1)], {}, True),
    ("its constraint rules the agent out", [_task(constraints=[["rack", "IS", "r2"]])], {}, False),
    ("its constraint allows the agent", [_task(constraints=[["rack", "IS", "r1"]])], {}, True),
    (
        "UNIQUE host, and the group runs there",
        [_task(constraints=[["hostname", "UNIQUE"]])],
        {"g": [Placement("host1", {"rack": "r1"})]},
        False,
    ),
]


@pytest.mark.parametrize(("waiting", "placed", "usable"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_could_use(waiting, placed, usable) -> None:
    assert could_use(LEFT, waiting, placed) is usable


def test_leftovers_pool_an_agents_offers_less_its_launches() -> None:
    second = Offer("o2", "a1", "host1", cpus=1.0, mem=512.0)
    other = Offer("o3", "a2", "host2", cpus=4.0, mem=4096.0)
    plan = Plan((Launch("a1", "host1", ("o1", "o2"), (_task(cpus=2.5, mem=1000.0),)),), ("o3",), {})

    left = leftovers([OFFER, second, other], plan)

    assert (left["a1"].offer_ids, left["a1"].cpus, left["a1"].mem) == (("o1", "o2"), 0.5, 536.0)
    assert (left["a2"].cpus, left["a2"].mem) == (4.0, 4096.0)


def test_new_pending_work_is_unseen_only_while_a_filter_lasts() -> None:
    watch = FilterWatch()
    watch.round_weighed(["waits"])
    assert watch.unseen(["waits", "new"], now=0.0) == []  # no filter set: offers come anyway

    watch.refused(5.0, now=100.0)
    assert watch.unseen(["waits", "new"], now=101.0) == ["new"]
    assert watch.unseen(["waits", "new"], now=105.0) == []  # expired

    watch.revived(["waits", "new"])
    watch.refused(5.0, now=200.0)
    assert watch.unseen(["waits", "new"], now=201.0) == []  # a REVIVE went out for them


def test_a_zero_filter_sets_nothing() -> None:
    watch = FilterWatch()
    watch.refused(0.0, now=10.0)
    assert watch.until == 0.0
