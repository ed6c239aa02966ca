"""The simulated agents' own HTTP API (files, state) and the master's ``/slaves``, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hippo_mesos_peer import Finish, Hang, MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe, task_info

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    agents = [SimAgent(hostname="agent1", attributes={"rack": "r1"}), SimAgent(hostname="agent2")]
    with MesosMasterPeer(agents=agents, default_behavior=Finish(after=0.01), **FAST) as peer:
        yield peer


@pytest.fixture
def probe(peer: MesosMasterPeer) -> Iterator[SchedulerProbe]:
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    probe.subscribe()
    yield probe
    probe.close()


def _run(probe: SchedulerProbe, task_id: str, until: str = "TASK_FINISHED") -> dict[str, Any]:
    offer = probe.offers_for("agent1")["agent1"]
    probe.accept(offer, [task_info(task_id, offer)])
    while True:
        status = probe.next_update(task_id)
        probe.acknowledge(status)
        if status["state"] == until:
            return status


def _read(peer: MesosMasterPeer, **params: Any) -> requests.Response:
    return requests.get(peer.agent_url("agent1") + "/files/read", params=params, timeout=5)


def _stdout(framework_id: str, task_id: str, stream: str = "stdout") -> str:
    return f"/frameworks/{framework_id}/executors/{task_id}/runs/latest/{stream}"


def test_slaves_names_each_agent_and_where_its_api_answers(peer: MesosMasterPeer):
    listing = requests.get(peer.url + "/slaves", timeout=5).json()
    one = requests.get(
        peer.url + "/master/slaves", params={"slave_id": listing["slaves"][1]["id"]}, timeout=5
    )

    first = listing["slaves"][0]
    assert first["hostname"] == "agent1"
    assert first["attributes"] == {"rack": "r1"}
    assert first["active"] is True
    assert first["pid"] == f"slave(1)@{peer.agent_url('agent1').removeprefix('http://')}"
    assert first["port"] == int(peer.agent_url("agent1").rsplit(":", 1)[1])
    assert listing["recovered_slaves"] == []
    assert [s["hostname"] for s in one.json()["slaves"]] == ["agent2"]


def test_slaves_of_a_standby_redirect_to_the_leader(peer: MesosMasterPeer):
    peer.set_leader(False, leader_url="http://leader.example:5050")

    response = requests.get(peer.url + "/slaves?slave_id=x", timeout=5, allow_redirects=False)

    assert response.status_code == 307
    assert response.headers["Location"] == "//leader.example:5050/slaves?slave_id=x"


def test_a_task_writes_its_output_into_its_sandbox(peer: MesosMasterPeer, probe: SchedulerProbe):
    _run(probe, "t1")
    fid = probe.framework_id

    out = _read(peer, path=_stdout(fid, "t1"), offset=0).json()
    err = _read(peer, path=_stdout(fid, "t1", "stderr"), offset=0).json()

    assert out == {"data": "stdout of t1\n", "offset": 0}
    assert err == {"data": "stderr of t1\n", "offset": 0}


def test_state_gives_each_executor_its_sandbox_directory(peer: MesosMasterPeer, probe: SchedulerProbe):
    _run(probe, "t1")

    state = requests.get(peer.agent_url("agent1") + "/state", timeout=5).json()

    (framework,) = state["frameworks"]
    (executor,) = framework["completed_executors"]
    assert framework["id"] == probe.framework_id
    assert executor["id"] == "t1"  # a command task's executor has the task's id
    assert executor["completed_tasks"][0]["state"] == "TASK_FINISHED"
    directory = executor["directory"]
    assert directory.startswith(f"/var/lib/mesos/slaves/{state['id']}/frameworks/{probe.framework_id}/")
    # The real directory and its `latest` link are served too.
    for path in (directory + "/stdout", directory.rsplit("/", 1)[0] + "/latest/stdout"):
        assert _read(peer, path=path, offset=0).json()["data"] == "stdout of t1\n"
    listing = requests.get(peer.agent_url("agent1") + "/files/browse", params={"path": directory}, timeout=5)
    assert [(f["path"], f["size"]) for f in listing.json()] == [
        (directory + "/stderr", len("stderr of t1\n")),
        (directory + "/stdout", len("stdout of t1\n")),
    ]


def test_a_running_task_is_among_the_executors(peer: MesosMasterPeer, probe: SchedulerProbe):
    peer.add_rule(lambda t: True, Hang(stdout="still going\n"))
    _run(probe, "t1", until="TASK_RUNNING")

    state = requests.get(peer.agent_url("agent1") + "/slave(1)/state", timeout=5).json()

    assert [e["id"] for e in state["frameworks"][0]["executors"]] == ["t1"]
    assert peer.output("t1") == b"still going\n"


def test_reads_are_64_kib_at_most_and_offset_minus_one_tells_the_size(
    peer: MesosMasterPeer, probe: SchedulerProbe
):
    _run(probe, "t1")
    big = b"0123456789" * 10_000
    peer.write_output("t1", "stdout", big)
    path = _stdout(probe.framework_id, "t1")
    size = len(b"stdout of t1\n") + len(big)

    first = _read(peer, path=path, offset=0).json()
    rest = _read(peer, path=path, offset=65536, length=-1).json()
    some = _read(peer, path=path, offset=13, length=5).json()

    assert _read(peer, path=path).json() == {"data": "", "offset": size}
    assert _read(peer, path=path, offset=-1, length=5).json() == {"data": "", "offset": size}
    assert len(first["data"]) == 65536
    assert rest == {"data": (b"stdout of t1\n" + big)[65536:].decode(), "offset": 65536}
    assert some == {"data": "01234", "offset": 13}
    assert _read(peer, path=path, offset=size + 5).json() == {"data": "", "offset": size + 5}


def test_bytes_go_out_raw_as_mesos_writes_them(peer: MesosMasterPeer, probe: SchedulerProbe):
    _run(probe, "t1")
    peer.write_output("t1", "stderr", b'caf\xc3\xa9 \xff "q" \\ \t\x01')

    response = _read(peer, path=_stdout(probe.framework_id, "t1", "stderr"), offset=13)

    # Not valid UTF-8 as a whole: a strict JSON parser would refuse it, a lenient one recovers the bytes.
    assert response.content == b'{"data":"caf\xc3\xa9 \xff \\"q\\" \\\\ \\t\\u0001","offset":13}'
    data = json.loads(response.content.decode("utf-8", "surrogateescape"))["data"]
    assert data.encode("utf-8", "surrogateescape") == b'caf\xc3\xa9 \xff "q" \\ \t\x01'


# (what it proves, query, status, body)
BAD_READS = [
    ("no path", {"offset": 0}, 400, "Expecting 'path=value' in query.\n"),
    ("an empty path", {"path": "", "offset": 0}, 400, "Expecting 'path=value' in query.\n"),
    (
        "an offset that is no number",
        {"file": "stdout", "offset": "x"},
        400,
        "Failed to parse offset: Failed to convert 'x' to number.\n",
    ),
    ("an offset below -1", {"file": "stdout", "offset": -2}, 400, "Negative offset provided: -2.\n"),
    (
        "a length below -1",
        {"file": "stdout", "offset": 0, "length": -3},
        400,
        "Negative length provided: -3.\n",
    ),
    ("a path nobody attached", {"path": "/frameworks/nope/executors/x/runs/latest/stdout"}, 404, ""),
    ("a file a sandbox does not have", {"file": "secret", "offset": 0}, 404, ""),
    ("a directory", {"file": "", "offset": 0}, 400, "Cannot read a directory.\n"),
    ("a path climbing out", {"file": "../../stdout", "offset": 0}, 400, "is inaccessible.\n"),
]


@pytest.mark.parametrize(
    ("query", "status", "body"), [c[1:] for c in BAD_READS], ids=[c[0] for c in BAD_READS]
)
def test_bad_reads_get_the_agents_answer(
    peer: MesosMasterPeer, probe: SchedulerProbe, query: dict[str, Any], status: int, body: str
):
    _run(probe, "t1")
    params = dict(query)
    if "file" in params:
        params["path"] = _stdout(probe.framework_id, "t1", params.pop("file")).removesuffix("/")

    response = _read(peer, **params)

    assert response.status_code == status
    assert body in response.text
    if status == 404:
        assert response.text == ""


def test_a_garbage_collected_sandbox_is_404(peer: MesosMasterPeer, probe: SchedulerProbe):
    _run(probe, "t1")
    path = _stdout(probe.framework_id, "t1")
    assert _read(peer, path=path, offset=0).status_code == 200

    peer.garbage_collect("t1")

    assert (_read(peer, path=path, offset=0).status_code, _read(peer, path=path).text) == (404, "")
    browse = requests.get(peer.agent_url("agent1") + "/files/browse", params={"path": path}, timeout=5)
    assert browse.status_code == 404


def test_a_removed_agent_answers_nothing_and_leaves_slaves(peer: MesosMasterPeer, probe: SchedulerProbe):
    _run(probe, "t1")
    url = peer.agent_url("agent1")

    peer.remove_agent("agent1")

    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/state", timeout=5)
    assert [s["hostname"] for s in requests.get(peer.url + "/slaves", timeout=5).json()["slaves"]] == [
        "agent2"
    ]
