"""Constraints place tasks where they must and nowhere else; max_concurrent is never exceeded.

Agents of the peer: agent1 (rack r1, zone a), agent2 (rack r2, zone a), agent3 (rack r3, zone b).
"""

from __future__ import annotations

from collections import Counter

import pytest

from hippo_mesos_peer import Finish, Hang

# (constraints, tasks posted, how many must run, check on the hostnames they run on, what it proves)
PLACEMENTS = [
    (
        [["hostname", "UNIQUE"]],
        4,
        3,
        lambda hosts: len(set(hosts)) == 3,
        "UNIQUE: one per host; the fourth waits",
    ),
    (
        [["rack", "CLUSTER", "r2"]],
        3,
        3,
        lambda hosts: set(hosts) == {"agent2"},
        "CLUSTER with a value: all on that rack",
    ),
    (
        [["rack", "LIKE", "r[12]"]],
        4,
        4,
        lambda hosts: "agent3" not in hosts,
        "LIKE: only racks matching the regex",
    ),
    (
        [["rack", "UNLIKE", "r1"]],
        4,
        4,
        lambda hosts: "agent1" not in hosts,
        "UNLIKE: never a rack matching the regex",
    ),
    ([["zone", "IS", "b"]], 2, 2, lambda hosts: set(hosts) == {"agent3"}, "IS: exact match only"),
    (
        [["zone", "EQUAL", "a"]],
        3,
        3,
        lambda hosts: "agent3" not in hosts,
        "EQUAL (the seed's spelling) is an exact match",
    ),
    (
        [["hostname", "MAX_PER", "2"]],
        7,
        6,
        lambda hosts: max(Counter(hosts).values()) == 2,
        "MAX_PER 2: at most two per host; the seventh waits",
    ),
    (
        [["zone", "GROUP_BY", "2"]],
        4,
        4,
        lambda hosts: Counter("b" if h == "agent3" else "a" for h in hosts) == Counter({"a": 2, "b": 2}),
        "GROUP_BY 2: spread evenly over both zones",
    ),
    ([["rack", "IS", "r9"]], 2, 0, lambda hosts: hosts == [], "no agent matches: nothing runs"),
]


@pytest.mark.parametrize(
    ("constraints", "posted", "running", "hosts_ok", "why"),
    PLACEMENTS,
    ids=[p[-1].split(":")[0] for p in PLACEMENTS],
)
def test_constraints_place_tasks(hippo, constraints, posted, running, hosts_ok, why) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    family = "placed"
    tasks = [
        hippo.post_task(id=family, cpus=0.5, mem=64, constraints=constraints, max_concurrent=50)
        for _ in range(posted)
    ]
    hippo.start_worker()
    hippo.wait(
        lambda: sum(hippo.task(t["mesos_id"])["state"] == "RUNNING" for t in tasks) == running,
        f"{running} running ({why})",
    )
    # Give the scheduler a few more offer rounds to misplace something, if it would.
    waiting = [t for t in tasks if hippo.task(t["mesos_id"])["state"] == "PENDING"]
    for t in waiting:
        hippo.wait(lambda t=t: bool(hippo.task(t["mesos_id"]).get("pending_reason")), "a pending reason")
    hosts = sorted(s.hostname for s in hippo.peer.tasks.values())
    assert len(hosts) == running, why
    assert hosts_ok(hosts), f"{why}: {hosts}"
    assert len(waiting) == posted - running
    for t in waiting:
        reason = hippo.task(t["mesos_id"])["pending_reason"]
        assert "constraint" in reason or "offer" in reason, reason


def test_max_concurrent_of_a_family_is_never_exceeded(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Finish(after=0.2))
    tasks = [hippo.post_task(id="capped", cpus=0.1, mem=32, max_concurrent=3) for _ in range(12)]
    hippo.start_worker()
    for t in tasks:
        hippo.wait_state(t["mesos_id"], "FINISHED", timeout=40)
    assert hippo.peer.max_active("hippo.family", "capped") == 3, "the peer's own books"
    assert all(hippo.peer.launch_count(t["mesos_id"]) == 1 for t in tasks)


def test_a_family_at_its_limit_does_not_hold_back_others(hippo) -> None:
    hippo.peer.add_rule(lambda ti: "hang" in ti["command"]["value"], Hang())
    blocked = [hippo.post_task(id="busy", cmd="hang", max_concurrent=1) for _ in range(5)]
    other = hippo.post_task(id="other", cmd="true")
    hippo.start_worker()
    hippo.wait_state(other["mesos_id"], "FINISHED")
    states = Counter(hippo.task(t["mesos_id"])["state"] for t in blocked)
    assert states == Counter({"RUNNING": 1, "PENDING": 4})
    reason = hippo.task(blocked[-1]["mesos_id"])["pending_reason"]
    assert reason.startswith("max_concurrent 1 reached"), reason
