"""With the Mesos backend, the API refuses with a 400 naming the rule every task a Mesos master
or agent would refuse, for one-off tasks and queues alike, and stores nothing."""

from __future__ import annotations

import copy
from typing import Any

import falcon.testing
import pytest

from hippo_core.api import create_app
from hippo_core.backends.mesos.backend import MesosBackend

# Validation needs no master: nothing listens here.
MASTER = "http://127.0.0.1:9"


@pytest.fixture
def api(config, store, registry) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(config, store, registry, MesosBackend(MASTER)))


def _docker(**docker: Any) -> dict[str, Any]:
    return {"docker": {"image": "busybox", **docker}}


def _volume(host: str, inside: str) -> dict[str, Any]:
    return {
        "docker": {"image": "busybox"},
        "volumes": [{"hostPath": host, "containerPath": inside, "mode": "RO"}],
    }


# (rule, what it proves, fields of the body, the path refused, text of the message)
# The task schema says most of these rules itself (so /openapi.json says them too), and
# answers first; the backend's own check stays for tasks stored before a rule.
REFUSED = [
    (
        "resources",
        "cpus Mesos would round to zero",
        {"cpus": 0.0004},
        "$.cpus",
        "less than the minimum of 0.0005",
    ),
    (
        "docker-parameter-name",
        "a docker parameter naming the container",
        {
            "container": _docker(
                parameters=[{"key": "cpu-shares", "value": "2"}, {"key": "name", "value": "web"}]
            )
        },
        "$.container.docker.parameters[1].key",
        "Mesos refuses a parameter 'name': docker-parameter-name",
    ),
    (
        "docker-volume-paths",
        "a volume with both paths relative",
        {"container": _volume("cache", "cache")},
        "$.container.volumes[0]",
        "hostPath and containerPath are both relative",
    ),
    (
        # The task schema's id pattern is stricter than Mesos' validateID, so it answers first.
        "task-id",
        "an id with a slash",
        {"id": "nightly/report"},
        "$.id",
        "does not match",
    ),
    (
        "task-id",
        "an id whose attempts' ids would pass 255 bytes",
        {"id": "x" * 201},
        "$.id",
        "does not match",
    ),
]

# (what it proves, fields of the body): close to a rule, and fine by Mesos.
ACCEPTED = [
    ("cpus that round up to 0.001", {"cpus": 0.0005}),
    ("a parameter spelled Name", {"container": _docker(parameters=[{"key": "Name", "value": "x"}])}),
    ("a relative host path: in the sandbox", {"container": _volume("cache", "/cache")}),
    ("a relative container path: in the sandbox", {"container": _volume("/srv/in", "in")}),
    ("the longest id the schema allows", {"id": "x" * 200}),
]


@pytest.mark.parametrize(
    ("fields", "path", "text"), [c[2:] for c in REFUSED], ids=[f"{c[0]}: {c[1]}" for c in REFUSED]
)
def test_a_task_mesos_would_refuse_is_a_400_naming_the_rule(
    api, task_body, error_of, redis_snapshot, fields: dict[str, Any], path: str, text: str
) -> None:
    before = redis_snapshot()

    error = error_of(api.simulate_post("/tasks/", json=task_body(**copy.deepcopy(fields))), 400)

    assert [e["path"] for e in error["errors"]] == [path]
    assert text in error["errors"][0]["message"]
    assert redis_snapshot() == before


@pytest.mark.parametrize(
    ("fields", "path", "text"),
    [c[2:] for c in REFUSED if "id" not in c[2]],
    ids=[f"{c[0]}: {c[1]}" for c in REFUSED if "id" not in c[2]],
)
def test_a_queue_mesos_would_refuse_is_a_400_on_create_and_on_update(
    api, queue_body, error_of, redis_snapshot, fields: dict[str, Any], path: str, text: str
) -> None:
    refused = queue_body(**copy.deepcopy(fields))
    before = redis_snapshot()
    assert error_of(api.simulate_post("/queues/", json=refused), 400)["errors"][0]["path"] == path
    assert redis_snapshot() == before

    created = api.simulate_post("/queues/", json=queue_body()).json
    stored = redis_snapshot()
    error = error_of(api.simulate_put(f"/queues/{created['id']}/", json=refused), 400)
    assert text in error["errors"][0]["message"]
    assert redis_snapshot() == stored


@pytest.mark.parametrize("fields", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_what_mesos_accepts_is_stored(api, task_body, fields: dict[str, Any]) -> None:
    result = api.simulate_post("/tasks/", json=task_body(**copy.deepcopy(fields)))
    assert result.status_code == 201, result.json


def test_every_problem_is_listed_at_once(api, task_body, error_of) -> None:
    body = task_body(
        cpus=0.0001,
        container={
            "docker": {"image": "busybox", "parameters": [{"key": "name", "value": "x"}]},
            "volumes": [{"hostPath": "a", "containerPath": "b", "mode": "RW"}],
        },
    )

    error = error_of(api.simulate_post("/tasks/", json=body), 400)

    assert sorted(e["path"] for e in error["errors"]) == [
        "$.container.docker.parameters[0].key",
        "$.container.volumes[0]",
        "$.cpus",
    ]
