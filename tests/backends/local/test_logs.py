"""Attempt logs: the files (``LogStore``) and ``GET /tasks/{id}/logs/`` on the real API and Redis."""

from __future__ import annotations

import pytest
from falcon import testing

from hippo_core import states
from hippo_core.api import create_app
from hippo_core.backend import LOG_CHUNK_BYTES, TaskStatus, whole_characters
from hippo_core.backends.local.backend import LocalBackend
from hippo_core.backends.local.logs import MAX_READ_BYTES, LogStore


def write(
    logs: LogStore,
    attempt_id: str,
    stdout: bytes = b"",
    stderr: bytes | None = b"",
    warning: str | None = None,
) -> None:
    path = logs.create(attempt_id)
    (path / "stdout").write_bytes(stdout)
    if stderr is not None:
        (path / "stderr").write_bytes(stderr)
    if warning:
        logs.write_warning(attempt_id, warning)


@pytest.mark.parametrize(
    ("data", "tail", "text", "truncated"),
    [
        (b"hello\n", None, "hello\n", False),  # all of a small file
        (b"0123456789", 4, "6789", True),  # the end of it with tail
        (b"0123456789", 99, "0123456789", False),  # a tail beyond the size is all of it
        (b"0123456789", 0, "", True),  # tail=0: nothing, but the size is still told
        (b"caf\xc3\xa9 \xff", None, "caf\u00e9 \ufffd", False),  # invalid UTF-8 replaced, not fatal
        (b"x" * (MAX_READ_BYTES + 10), None, "x" * MAX_READ_BYTES, True),  # capped to the last MiB
    ],
)
def test_reading_a_stream(tmp_path, data, tail, text, truncated):
    logs = LogStore(tmp_path)
    write(logs, "fam.1", stdout=data)
    read = logs.read("fam.1", tail=tail)
    assert read is not None
    assert (read.stdout.text, read.stdout.size, read.stdout.truncated) == (text, len(data), truncated)


def test_a_missing_stream_reads_empty_and_a_missing_attempt_reads_none(tmp_path):
    logs = LogStore(tmp_path)
    write(logs, "fam.1", stdout=b"out", stderr=None)
    read = logs.read("fam.1")
    assert read is not None and read.stderr.text == "" and read.warning is None
    assert logs.read("fam.2") is None


@pytest.mark.parametrize("attempt_id", ["../etc", "a/b", "..", ".hidden", ""])
def test_ids_that_could_leave_the_tasks_directory_are_refused(tmp_path, attempt_id):
    logs = LogStore(tmp_path)
    with pytest.raises(ValueError):
        logs.sandbox(attempt_id)
    assert logs.read(attempt_id) is None


# -- the API -----------------------------------------------------------------------------


@pytest.fixture
def backend(tmp_path) -> LocalBackend:
    """A local backend as the API has it: built, never started."""
    return LocalBackend(tmp_path / "data", cpus=1, mem=256)


@pytest.fixture
def logs(backend) -> LogStore:
    return backend.logs


@pytest.fixture
def api(config, store, registry, backend) -> testing.TestClient:
    return testing.TestClient(create_app(config, store, registry, backend))


def failed_twice(store, task_body, api) -> dict:
    """A task with three attempts: the first two failed, the third is pending."""
    task = api.simulate_post("/tasks/", json=task_body(id="report", task_retries=2)).json
    for _ in range(2):
        attempt = states.current_attempt(store.get_task(task["mesos_id"]))["mesos_id"]
        store.update_task(task["mesos_id"], lambda t: states.mark_launched(t, "local-h", "h"))
        store.update_task(
            task["mesos_id"],
            lambda t, a=attempt: (
                states.apply_status(t, TaskStatus(a, "TASK_FAILED", message="exit code 3")).task
            ),
        )
    return store.get_task(task["mesos_id"])


def test_newest_attempt_with_logs_by_default_and_any_by_number(store, task_body, api, logs, error_of):
    task = failed_twice(store, task_body, api)
    first, second, third = (a["mesos_id"] for a in task["attempts"])
    write(logs, first, b"try 1\n", b"boom 1\n")
    write(logs, second, b"try 2\n", b"boom 2\n", warning="image busybox:1.36 was not used")

    body = api.simulate_get("/tasks/report/logs/").json
    assert (body["attempt"], body["mesos_id"], body["attempts"]) == (2, second, [1, 2])
    assert body["stdout"] == {"text": "try 2\n", "size": 6, "truncated": False, "offset": 0, "next_offset": 6}
    assert body["stderr"]["text"] == "boom 2\n"
    assert body["warning"] == "image busybox:1.36 was not used"

    one = api.simulate_get(f"/tasks/{task['mesos_id']}/logs", params={"attempt": "1"}).json
    assert (one["attempt"], one["stdout"]["text"], one["warning"]) == (1, "try 1\n", None)
    assert api.simulate_get("/tasks/report/logs", params={"tail": "3"}).json["stdout"] == {
        "text": " 2\n",
        "size": 6,
        "truncated": True,
        "offset": 3,
        "next_offset": 6,
    }

    # The third attempt is pending: no logs yet.
    error_of(api.simulate_get("/tasks/report/logs", params={"attempt": "3"}), 404)
    error_of(api.simulate_get(f"/tasks/{third}/logs"), 404)
    error_of(api.simulate_get("/tasks/report/logs", params={"attempt": "4"}), 404)

    write(logs, third, b"try 3\n")
    assert api.simulate_get("/tasks/report/logs").json["attempt"] == 3
    # An attempt's own mesos id picks that attempt, not the newest.
    assert api.simulate_get(f"/tasks/{second}/logs/").json["attempt"] == 2


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/tasks/nobody/logs", {}, 404),  # an unknown task
        ("/tasks/report/logs", {"attempt": "0"}, 400),  # attempts count from 1
        ("/tasks/report/logs", {"attempt": "first"}, 400),  # not a number
        ("/tasks/report/logs", {"tail": "-1"}, 400),  # a negative tail
        ("/tasks/report/logs", {"stdout_offset": "-1"}, 400),  # a negative offset
        ("/tasks/report/logs", {"stderr_offset": "x"}, 400),  # not a number
        ("/tasks/report/logs", {}, 404),  # a task that never ran has no logs
    ],
)
def test_bad_requests(api, task_body, error_of, path, params, status):
    api.simulate_post("/tasks/", json=task_body(id="report"))
    error_of(api.simulate_get(path, params=params), status)


def test_following_a_stream_by_offset_reads_every_byte_once(store, task_body, api, logs, error_of):
    """A follower reads chunk after chunk from next_offset, with no cap on the total."""
    task = failed_twice(store, task_body, api)
    attempt = task["attempts"][1]["mesos_id"]
    # Over two chunks, with a three-byte character across the chunk boundary.
    data = b"a" * (LOG_CHUNK_BYTES - 1) + "\u20ac".encode() + b"tail\n"
    write(logs, attempt, data, b"err\n")

    def read(**offsets: int) -> dict:
        params = {f"{name}_offset": str(value) for name, value in offsets.items()}
        return api.simulate_get(f"/tasks/{attempt}/logs", params=params).json

    got, offset = b"", 0
    while True:
        body = read(stdout=offset)
        # The other stream, without an offset, comes from its end.
        assert body["stderr"]["text"] == "err\n"
        chunk = body["stdout"]
        assert chunk["offset"] == offset and chunk["size"] == len(data) and not chunk["truncated"]
        got += chunk["text"].encode()
        if chunk["next_offset"] == offset:
            break
        offset = chunk["next_offset"]
    assert got == data  # the euro sign was not split between the chunks
    assert offset == len(data)

    # More output arrives: only the new bytes come back.
    with open(logs.sandbox(attempt) / "stdout", "ab") as fh:
        fh.write(b"more\n")
    body = read(stdout=offset)
    assert (body["stdout"]["text"], body["stdout"]["next_offset"]) == ("more\n", len(data) + 5)

    # stderr has an offset of its own, beside stdout's.
    both = read(stdout=offset + 5, stderr=2)
    assert (both["stdout"]["text"], both["stderr"]["text"], both["stderr"]["offset"]) == ("", "r\n", 2)
    error = error_of(api.simulate_get(f"/tasks/{attempt}/logs", params={"stderr_offset": "5"}), 400)
    assert "past the end of stderr (4 bytes)" in error["description"]


@pytest.mark.parametrize(
    ("data", "whole"),
    [
        (b"abc", 3),
        ("\u00e9".encode()[:1], 0),  # a two-byte character cut after its first byte
        ("x\u20ac".encode()[:3], 1),  # a three-byte character cut after two
        ("x\U0001f600".encode(), 5),  # a whole four-byte character
        (b"\xff\xfe", 2),  # not UTF-8 at all: kept, to be replaced when decoded
        (b"", 0),
    ],
)
def test_reads_by_offset_end_on_whole_characters(data, whole):
    assert whole_characters(data) == whole
