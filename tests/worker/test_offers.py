"""Offers against the peer: a task that fits launches at once, whatever waits and whatever filters
Hippo set, and after a resubscription that carried a SUPPRESS.

The workers here refuse offers for 30 s, and only revive on their own after 90 s without
an offer, so a task that launches within the tests' 20 s wait was launched by a REVIVE.
"""

from __future__ import annotations

from hippo_mesos_peer import Hang

LONG = 30.0


def _calls(hippo, since: int = 0) -> list[tuple[str, dict]]:
    return hippo.peer.calls[since:]


def _declines(hippo, since: int = 0) -> list[float]:
    return [
        body["decline"]["filters"]["refuse_seconds"]
        for call, body in _calls(hippo, since)
        if call == "DECLINE"
    ]


def test_a_task_that_fits_launches_though_an_unplaceable_one_pends(hippo) -> None:
    hippo.start_worker(refuse_seconds=LONG)
    hippo.post_task(cpus=64)
    hippo.wait(lambda: LONG in _declines(hippo), "the offers refused for 30s")
    before = len(hippo.peer.calls)

    posted = hippo.post_task(cpus=0.5)
    hippo.wait_state(posted["mesos_id"], "FINISHED")

    after = [call for call, _ in _calls(hippo, before)]
    assert "REVIVE" in after and after.index("REVIVE") < after.index("ACCEPT")
    assert hippo.task(posted["mesos_id"])["attempts"][0]["launched_at"] is not None


def test_a_retry_is_new_work_too(hippo) -> None:
    hippo.peer.add_rule(lambda ti: ti["command"]["value"] == "flaky", Hang())
    hippo.start_worker(refuse_seconds=LONG)
    hippo.post_task(cpus=64)
    posted = hippo.post_task(cmd="flaky", system_retries=1)
    running = hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.wait(lambda: LONG in _declines(hippo), "the offers refused for 30s")

    hippo.peer.remove_agent(running["hostname"])  # the attempt is lost: a retry is pending

    hippo.wait(lambda: len(hippo.task(posted["mesos_id"])["attempts"]) == 2, "the retry")
    hippo.wait_state(posted["mesos_id"], "RUNNING")


def test_only_what_no_waiting_task_could_use_is_refused_long(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker(refuse_seconds=LONG)
    first = hippo.post_task(id="one-at-a-time", max_concurrent=1)
    hippo.wait_state(first["mesos_id"], "RUNNING")
    before = len(hippo.peer.calls)
    # Waits for its family's slot, and fits every agent: offers are wanted soon.
    second = hippo.post_task(id="one-at-a-time", max_concurrent=1)
    hippo.wait(lambda: 1.0 in _declines(hippo, before), "a short refusal")
    assert hippo.task(second["mesos_id"])["state"] == "PENDING"

    hippo.api.simulate_post(f"/tasks/{second['mesos_id']}/kill/")
    hippo.post_task(cpus=64)  # fits no agent: offers are not wanted
    marker = len(hippo.peer.calls)
    hippo.wait(lambda: LONG in _declines(hippo, marker), "a long refusal")


def test_after_a_master_failover_work_revives_the_suppressed_offers_at_once(hippo) -> None:
    hippo.start_worker(refuse_seconds=LONG)
    hippo.wait(lambda: "SUPPRESS" in [c for c, _ in hippo.peer.calls], "SUPPRESS with nothing pending")
    framework_id = hippo.store.framework_id()

    hippo.peer.restart()
    hippo.wait(
        lambda: framework_id in hippo.peer.frameworks and hippo.peer.frameworks[framework_id].connected,
        "the resubscription",
    )
    resubscribe = [body for call, body in hippo.peer.calls if call == "SUBSCRIBE"][-1]
    assert resubscribe["subscribe"]["suppressed_roles"] == ["*"]
    assert hippo.peer.frameworks[framework_id].suppressed_roles == {"*"}
    before = len(hippo.peer.calls)

    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "FINISHED")

    after = [call for call, _ in _calls(hippo, before)]
    assert after.index("REVIVE") < after.index("ACCEPT")


def test_work_pending_across_a_failover_is_revived_once_reconciled(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker(refuse_seconds=LONG)
    hippo.post_task(cpus=64)
    hippo.wait(lambda: LONG in _declines(hippo), "the offers refused for 30s")

    hippo.peer.restart()
    posted = hippo.post_task()

    hippo.wait_state(posted["mesos_id"], "RUNNING")
