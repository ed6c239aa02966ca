"""``GET /tasks/{id}/logs/`` of Mesos tasks: stdout and stderr read over HTTP from the sandboxes of
the peer's agents, found through the master's ``/slaves``, with ``?tail=`` and ``?attempt=``, and
a clear answer when the agent is gone or the sandbox was garbage-collected."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.backends.mesos.sandbox import CHUNK_BYTES, MAX_READ_BYTES
from hippo_mesos_peer import Fail, Hang


def _finished(hippo, **fields):
    posted = hippo.post_task(**fields)
    return hippo.wait_state(posted["mesos_id"], "FINISHED", "FAILED")


def test_a_finished_tasks_output_is_read_from_its_agent(hippo) -> None:
    hippo.start_worker()
    task = _finished(hippo, id="greeter")
    attempt = task["mesos_id"]

    result = hippo.logs("greeter")

    assert result.status_code == 200, result.json
    body = result.json
    assert (body["task_id"], body["attempt"], body["mesos_id"], body["attempts"]) == (
        attempt,
        1,
        attempt,
        [1],
    )
    size = len(f"stdout of {attempt}\n")
    assert body["stdout"] == {
        "text": f"stdout of {attempt}\n",
        "size": size,
        "truncated": False,
        "offset": 0,
        "next_offset": size,
    }
    assert body["stderr"]["text"] == f"stderr of {attempt}\n"
    assert body["warning"] is None


def test_tail_and_chunks_over_64_kib(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang(stdout=b"", stderr=b""))
    hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    attempt = posted["mesos_id"]
    # A character of three bytes straddles the end of the first 64 KiB chunk, and one byte
    # is not UTF-8 at all: neither may be lost or doubled between chunks.
    data = b"a" * (CHUNK_BYTES - 1) + "€".encode() + b" tail \xff end\n" + b"z" * (2 * CHUNK_BYTES)
    hippo.peer.write_output(attempt, "stdout", data)

    whole = hippo.logs(attempt).json["stdout"]
    tail = hippo.logs(attempt, tail=4).json["stdout"]
    none = hippo.logs(attempt, tail=0).json["stdout"]

    end = len(data)
    assert whole == {
        "text": data.decode("utf-8", "replace"),
        "size": end,
        "truncated": False,
        "offset": 0,
        "next_offset": end,
    }
    assert "€ tail \ufffd end" in whole["text"]
    assert tail == {"text": "zzzz", "size": end, "truncated": True, "offset": end - 4, "next_offset": end}
    assert none == {"text": "", "size": end, "truncated": True, "offset": end, "next_offset": end}


def test_following_a_stream_by_offset_reads_every_byte_once(hippo) -> None:
    """Chunk after chunk from next_offset, beyond a MiB in all, characters whole, then new output."""
    hippo.peer.add_rule(lambda ti: True, Hang(stdout=b"", stderr=b""))
    hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    attempt = posted["mesos_id"]
    data = b"a" * (MAX_READ_BYTES - 1) + "€".encode() + b"more\n"
    hippo.peer.write_output(attempt, "stdout", data)

    read, offset = b"", 0
    while offset < len(data):
        body = hippo.logs(attempt, stdout_offset=str(offset)).json
        assert body["stdout"]["offset"] == offset
        read += body["stdout"]["text"].encode()
        offset = body["stdout"]["next_offset"]
    assert read == data

    hippo.peer.write_output(attempt, "stdout", b"later\n")
    body = hippo.logs(attempt, stdout_offset=str(offset)).json["stdout"]
    assert (body["text"], body["next_offset"]) == ("later\n", len(data) + 6)
    past = hippo.logs(attempt, stderr_offset="5")
    assert past.status_code == 400 and "past the end of stderr (0 bytes)" in past.json["description"]


def test_a_stream_is_cut_to_its_last_mib(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang(stdout=b"", stderr=b""))
    hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.write_output(posted["mesos_id"], "stderr", b"x" * 10 + b"y" * MAX_READ_BYTES)

    stderr = hippo.logs(posted["mesos_id"]).json["stderr"]

    assert stderr == {
        "text": "y" * MAX_READ_BYTES,
        "size": MAX_READ_BYTES + 10,
        "truncated": True,
        "offset": 10,
        "next_offset": MAX_READ_BYTES + 10,
    }


def test_each_attempt_has_its_own_logs(hippo) -> None:
    hippo.peer.add_rule(lambda ti: ti["command"]["value"] == "flaky", Fail(after=0.01, stdout="try\n"))
    hippo.start_worker()
    task = _finished(hippo, id="flaky", cmd="flaky", task_retries=1)
    first, second = (a["mesos_id"] for a in task["attempts"])

    newest = hippo.logs("flaky").json
    earlier = hippo.logs("flaky", attempt=1).json

    assert newest["attempt"] == 2 and newest["mesos_id"] == second and newest["attempts"] == [1, 2]
    assert earlier["mesos_id"] == first and earlier["stderr"]["text"] == f"stderr of {first}\n"


def test_a_pending_task_has_no_logs_yet(hippo, error_of) -> None:
    posted = hippo.post_task(cpus=64)

    error = error_of(hippo.logs(posted["mesos_id"]), 404)

    assert "has not started yet" in error["description"]


def test_a_garbage_collected_sandbox_says_so(hippo, error_of) -> None:
    hippo.start_worker()
    task = _finished(hippo)
    hippo.peer.garbage_collect(task["mesos_id"])

    error = error_of(hippo.logs(task["mesos_id"]), 404)

    assert error["title"] == "Logs gone"
    assert f"the sandbox of attempt {task['mesos_id']} on agent {task['hostname']}" in error["description"]
    assert "was garbage-collected" in error["description"]


def test_a_removed_agent_says_so(hippo, error_of) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task(system_retries=0)
    task = hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.remove_agent(task["hostname"])
    hippo.wait_state(posted["mesos_id"], "FAILED")

    error = error_of(hippo.logs(posted["mesos_id"]), 404)

    assert f"agent {task['mesos_agent']} is not registered with the Mesos master" in error["description"]


def test_an_agent_that_does_not_answer_is_a_502_worth_retrying(hippo, error_of) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task()
    task = hippo.wait_state(posted["mesos_id"], "RUNNING")
    assert hippo.logs(posted["mesos_id"]).status_code == 200
    hippo.peer.silence_agent(task["hostname"])

    error = error_of(hippo.logs(posted["mesos_id"]), 502)

    assert f"the agent {task['hostname']}" in error["description"]
    assert "did not answer" in error["description"] and "try again later" in error["description"]


def _asked(hippo, since: int) -> list[str]:
    return [urlsplit(target).path for _, _, target in hippo.peer.agent_requests[since:]]


def test_the_api_finds_the_sandbox_by_the_framework_id_in_redis(hippo) -> None:
    hippo.start_worker()
    task = _finished(hippo)
    before = len(hippo.peer.agent_requests)

    assert hippo.logs(task["mesos_id"]).status_code == 200

    assert set(_asked(hippo, before)) == {"/files/read"}  # no /state needed
    virtual = f"/frameworks/{hippo.store.framework_id()}/executors/{task['mesos_id']}/runs/latest/stdout"
    reads = [parse_qs(urlsplit(t).query)["path"][0] for _, _, t in hippo.peer.agent_requests[before:]]
    assert virtual in reads


def test_without_the_framework_id_the_agents_state_finds_the_sandbox(hippo) -> None:
    hippo.start_worker()
    task = _finished(hippo)
    # A backend nobody told where the framework id is (a third-party composition, or an
    # attempt of an earlier framework): it asks the agent's /state for the directory.
    backend = MesosBackend([hippo.peer.url])
    before = len(hippo.peer.agent_requests)

    logs = backend.read_logs(task["mesos_id"], task["mesos_agent"])

    assert logs is not None and logs.stdout.text == f"stdout of {task['mesos_id']}\n"
    assert "/state" in _asked(hippo, before)
