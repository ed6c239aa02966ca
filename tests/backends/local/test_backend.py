"""The local backend driven directly: offers, launches, exit codes, kills, reconciliation, re-delivery."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from hippo_core.backend import BackendError, TaskStatus
from hippo_core.backends.local import machine
from hippo_core.backends.local.backend import LocalBackend
from hippo_core.backends.local.logs import LogStore


@pytest.fixture
def run_task(recorder, make_launch):
    """``run_task(task_id, cmd, **launch_fields)``: launch on the next offer, wait for its end."""

    def run(task_id: str, cmd: str, **kw: object) -> TaskStatus:
        recorder.launch_on_next_offer(make_launch(task_id, cmd, **kw))
        return recorder.wait_terminal(task_id)

    return run


# -- registration and offers -------------------------------------------------------------


def test_registers_with_the_given_framework_id_then_offers_the_whole_machine(start_backend, recorder):
    start_backend(framework_id="fw-1")
    recorder.wait_for("an offer", lambda: recorder.offered)
    assert recorder.framework_ids == ["fw-1"]
    offer = recorder.offered[0]
    assert (offer.agent_id, offer.hostname, offer.cpus, offer.mem, offer.attributes) == (
        "local-testhost",
        "testhost",
        2.0,
        1000.0,
        {},
    )


def test_without_a_framework_id_it_makes_one(start_backend, recorder):
    start_backend(framework_id=None)
    ids = recorder.wait_for("registration", lambda: recorder.framework_ids)
    assert ids[0].startswith("local-") and len(ids[0]) > len("local-")


def test_offers_what_is_free_while_tasks_run_and_all_again_after(make_launch, start_backend, recorder):
    start_backend()
    recorder.launch_on_next_offer(make_launch("t.busy", "sleep 100", cpus=1.5, mem=600))
    recorder.wait_for("the task running", lambda: "TASK_RUNNING" in recorder.states("t.busy"))
    seen = len(recorder.offered)
    offer = recorder.wait_for("an offer of the rest", lambda: recorder.offered[seen:])[-1]
    assert (offer.cpus, offer.mem) == (0.5, 400.0)
    recorder.backend.kill("t.busy", None)
    recorder.wait_terminal("t.busy")
    seen = len(recorder.offered)
    recorder.wait_for(
        "the whole machine offered again",
        lambda: any(o.cpus == 2.0 and o.mem == 1000.0 for o in recorder.offered[seen:]),
    )


def test_an_offer_nobody_answers_is_rescinded_and_offered_again(start_backend, recorder):
    start_backend()
    offers = recorder.wait_for("two offers", lambda: len(recorder.offered) > 1 and recorder.offered[:2])
    assert offers[0].id != offers[1].id
    assert offers[0].id in recorder.rescinded_ids


def test_a_declined_offer_stays_back_for_refuse_seconds_and_revive_brings_it_back(start_backend, recorder):
    recorder.respond = lambda backend, offers: backend.decline([o.id for o in offers], refuse_seconds=3600)
    backend = start_backend()
    recorder.wait_for("an offer", lambda: recorder.offered)
    time.sleep(0.5)  # ten offer intervals: re-offers would have come by now
    assert len(recorder.offered) == 1, "a refuse filter of an hour let offers through"
    recorder.respond = None
    backend.revive()
    recorder.wait_for("an offer after revive", lambda: len(recorder.offered) > 1)


def test_suppress_stops_offers_until_revive(start_backend, recorder):
    recorder.respond = lambda backend, offers: backend.suppress()
    backend = start_backend()
    recorder.wait_for("an offer", lambda: recorder.offered)
    time.sleep(0.5)
    assert len(recorder.offered) == 1, "offers kept coming while suppressed"
    recorder.respond = None
    backend.revive()
    recorder.wait_for("an offer after revive", lambda: len(recorder.offered) > 1)


@pytest.mark.parametrize(
    ("offer_id", "cpus", "mem", "refusal"),
    [
        # A launch on an offer that was answered already (or never made) must not run.
        ("no-such-offer", 0.1, 32, "no longer valid"),
        # More than the offer holds: the scheduler must never be allowed to overbook.
        (None, 2.5, 32, "need 2.5 cpus"),
        (None, 0.1, 1001, "1001 MB"),
    ],
)
def test_accept_refuses_launches_the_offer_cannot_carry(
    make_launch, start_backend, recorder, offer_id, cpus, mem, refusal
):
    errors: list[BackendError] = []

    def accept(backend, offers):
        if errors:
            return
        try:
            backend.accept([offer_id or offers[0].id], [make_launch("t.x", "true", cpus=cpus, mem=mem)], 0)
        except BackendError as exc:
            errors.append(exc)

    recorder.respond = accept
    start_backend()
    recorder.wait_for("the accept", lambda: errors)
    assert refusal in str(errors[0])
    # Nothing ran and nothing was taken: the next offer is the whole machine.
    seen = len(recorder.offered)
    offer = recorder.wait_for("another offer", lambda: recorder.offered[seen:])[0]
    assert (offer.cpus, offer.mem) == (2.0, 1000.0)
    assert not recorder.states("t.x")


# -- running tasks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmd", "state", "message"),
    [
        ("exit 0", "TASK_FINISHED", None),  # success
        ("exit 3", "TASK_FAILED", "exit code 3"),  # the task's own failure, with its code
        ("kill -9 $$", "TASK_FAILED", "killed by signal SIGKILL"),  # died of a signal nobody sent
        ("no-such-program-xyz", "TASK_FAILED", "exit code 127"),  # the shell ran; the command did not
    ],
)
def test_exit_codes_become_states(run_task, start_backend, recorder, cmd, state, message):
    start_backend()
    end = run_task("t.exit", cmd)
    assert recorder.states("t.exit") == ["TASK_STARTING", "TASK_RUNNING", state]
    assert end.message == message
    assert (end.agent_id, end.hostname) == ("local-testhost", "testhost")


def test_starting_and_running_warn_that_the_image_was_not_used(run_task, start_backend, recorder, tmp_path):
    start_backend()
    run_task("t.warn", "true")
    for status in recorder.updates[:2]:
        assert status.state in ("TASK_STARTING", "TASK_RUNNING")
        assert "image busybox:1.36 was not used" in status.message
    logs = LogStore(tmp_path / "data").read("t.warn")
    assert logs is not None and "busybox:1.36 was not used" in logs.warning


def test_a_task_runs_in_its_directory_with_its_environment_and_its_output_is_kept(
    run_task, start_backend, recorder, tmp_path, monkeypatch
):
    monkeypatch.setenv("HIPPO_REDIS_URL", "redis://:hunter2@example/0")
    start_backend()
    cmd = (
        'pwd; echo "data=$HIPPO_DATA"; echo "redis=${HIPPO_REDIS_URL:-unset}"; echo oops >&2; touch made-here'
    )
    end = run_task("t.env", cmd, env={"HIPPO_DATA": "item 1"})
    assert end.state == "TASK_FINISHED"
    sandbox = tmp_path / "data" / "tasks" / "t.env"
    logs = LogStore(tmp_path / "data").read("t.env")
    assert logs is not None
    # Hippo's own settings (and their secrets) do not leak into tasks.
    assert logs.stdout.text == f"{sandbox.resolve()}\ndata=item 1\nredis=unset\n"
    assert logs.stderr.text == "oops\n"
    assert (sandbox / "made-here").exists()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        # The shell cannot be executed: nothing of the task ever ran.
        ("missing shell", "could not start"),
        # The task's directory cannot be made: it has nowhere to run.
        ("no directory", "could not create the task's directory"),
    ],
)
def test_a_process_that_cannot_start_is_task_error(
    run_task, start_backend, recorder, tmp_path, case, fragment
):
    if case == "missing shell":
        start_backend(shell=str(tmp_path / "no-such-shell"))
    else:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "tasks").write_text("a file where the directories should go")
        start_backend()
    end = run_task("t.err", "true")
    assert end.state == "TASK_ERROR"
    assert end.reason == "REASON_CONTAINER_LAUNCH_FAILED"
    assert fragment in end.message
    recorder.wait_for("the resources back", lambda: any(o.cpus == 2.0 for o in recorder.offered[-1:]))


# -- kills -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd",
    [
        "sleep 100 & sleep 100",  # a background child goes with the group
        "trap '' TERM; sleep 100 & sleep 100",  # SIGTERM ignored: SIGKILL after the grace period
    ],
)
def test_kill_stops_the_whole_process_group(make_launch, task_pids, pids_left, start_backend, recorder, cmd):
    backend = start_backend()
    recorder.launch_on_next_offer(make_launch("t.kill", cmd))
    recorder.wait_for("the task running", lambda: "TASK_RUNNING" in recorder.states("t.kill"))
    recorder.wait_for("both sleeps", lambda: len(task_pids("t.kill")) >= 3)
    backend.kill("t.kill", "local-testhost")
    end = recorder.wait_terminal("t.kill")
    assert end.state == "TASK_KILLED"
    assert pids_left("t.kill") == []


def test_what_a_finished_shell_left_running_is_killed(run_task, pids_left, start_backend, recorder):
    start_backend()
    end = run_task("t.orphan", "sleep 100 & echo started")
    assert end.state == "TASK_FINISHED"
    assert pids_left("t.orphan") == []


def test_killing_an_unknown_task_answers_task_lost(start_backend, recorder):
    backend = start_backend()
    recorder.wait_for("registration", lambda: recorder.framework_ids)
    backend.kill("t.gone", None)
    assert recorder.wait_terminal("t.gone").state == "TASK_LOST"


def test_shutdown_kills_running_tasks_and_leaves_no_process(make_launch, pids_left, start_backend, recorder):
    backend = start_backend()
    recorder.launch_on_next_offer(
        make_launch("t.a", "sleep 100 & sleep 100"), make_launch("t.b", "trap '' TERM; sleep 100")
    )
    recorder.wait_for(
        "both running",
        lambda: "TASK_RUNNING" in recorder.states("t.a") and "TASK_RUNNING" in recorder.states("t.b"),
    )
    backend.shutdown()
    assert pids_left("t.a") == [] and pids_left("t.b") == []
    assert not any(t.name.startswith("hippo-task-") for t in threading.enumerate())


# -- reconciliation and delivery ---------------------------------------------------------


def test_reconcile_answers_known_tasks_with_their_state_and_unknown_ones_lost(
    run_task, make_launch, start_backend, recorder
):
    backend = start_backend()
    recorder.launch_on_next_offer(make_launch("t.run", "sleep 100"))
    recorder.wait_for("running", lambda: "TASK_RUNNING" in recorder.states("t.run"))
    run_task("t.done", "exit 0")
    seen = len(recorder.updates)

    backend.reconcile([("t.run", "local-testhost"), ("t.done", None), ("t.before-restart", "local-testhost")])
    answers = recorder.wait_for(
        "three answers",
        lambda: recorder.updates[seen : seen + 3] if len(recorder.updates) >= seen + 3 else None,
    )
    assert [(a.task_id, a.state) for a in answers] == [
        ("t.run", "TASK_RUNNING"),
        ("t.done", "TASK_FINISHED"),
        ("t.before-restart", "TASK_LOST"),
    ]
    assert {a.reason for a in answers} == {"REASON_RECONCILIATION"}
    assert "no record of this task" in answers[2].message

    seen = len(recorder.updates)
    backend.reconcile([])  # implicit: every task still active
    answer = recorder.wait_for("the implicit answer", lambda: recorder.updates[seen:])
    assert [(a.task_id, a.state) for a in answer] == [("t.run", "TASK_RUNNING")]


def test_an_update_whose_callback_raises_is_delivered_again_in_order(run_task, start_backend, recorder):
    recorder.fail_updates = 3
    start_backend()
    run_task("t.redo", "exit 0")
    # Each update counts once it was handled, so each arrives exactly once, in order.
    assert recorder.states("t.redo") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert [s.state for s in recorder.failed_updates] == ["TASK_STARTING"] * 3


def test_every_callback_comes_from_the_one_event_thread(run_task, start_backend, recorder):
    start_backend()
    run_task("t.thread", "exit 0")
    assert recorder.threads == {"hippo-local-events"}


# -- settings ----------------------------------------------------------------------------


def test_from_config_defaults_to_this_machines_capacity(tmp_path):
    from hippo_core.config import Config

    backend = LocalBackend.from_config(Config(data_dir=str(tmp_path)))
    assert backend.cpus == float(os.cpu_count() or 1)
    assert backend.mem == pytest.approx(machine.memory_mb())
    assert backend.logs.root == Path(tmp_path) / "tasks"
    sized = LocalBackend.from_config(Config(data_dir=str(tmp_path)).with_table("local", cpus=3, mem=512))
    assert (sized.cpus, sized.mem) == (3.0, 512.0)


@pytest.mark.parametrize(
    ("meminfo", "expected"),
    [
        ("MemTotal:        2048000 kB\nMemFree:  1 kB\n", 2000.0),  # kB -> MB
        ("MemFree:  1 kB\nMemTotal: 1024 kB\n", 1.0),  # found wherever it is
    ],
)
def test_memory_is_read_from_meminfo(tmp_path, meminfo, expected):
    path = tmp_path / "meminfo"
    path.write_text(meminfo)
    assert machine.memory_mb(path) == expected


def test_memory_falls_back_to_sysconf_without_meminfo(tmp_path):
    assert machine.memory_mb(tmp_path / "missing") > 0
