"""What the backend could never run is refused at the API, before anything is stored."""

from __future__ import annotations

import falcon.testing
import pytest

from hippo_core.api import create_app
from hippo_core.backends.local.backend import LocalBackend
from hippo_core.errors import FieldError


class ReadOnlyVolumesBackend(LocalBackend):
    """A backend with a rule of its own: every volume must be read-only."""

    def validate(self, definition):
        return [
            FieldError(f"$.container.volumes[{i}].mode", "this backend mounts volumes read-only")
            for i, volume in enumerate(definition["container"].get("volumes", []))
            if volume["mode"] != "RO"
        ]


@pytest.fixture
def api(config, store, registry, tmp_path) -> falcon.testing.TestClient:
    backend = ReadOnlyVolumesBackend(tmp_path, cpus=1, mem=256)
    return falcon.testing.TestClient(create_app(config, store, registry, backend))


VOLUMES = [
    {"containerPath": "/in", "hostPath": "/srv/in", "mode": "RO"},
    {"containerPath": "/out", "hostPath": "/srv/out", "mode": "RW"},
]


def test_a_task_the_backend_refuses_is_a_400_naming_the_field(api, task_body, error_of, redis_snapshot):
    before = redis_snapshot()
    body = task_body(container={"docker": {"image": "busybox"}, "volumes": VOLUMES})
    error = error_of(api.simulate_post("/tasks/", json=body), 400)
    assert error["errors"] == [
        {"path": "$.container.volumes[1].mode", "message": "this backend mounts volumes read-only"}
    ]
    assert redis_snapshot() == before


def test_a_queue_the_backend_refuses_is_a_400_on_create_and_update(api, queue_body, error_of, redis_snapshot):
    before = redis_snapshot()
    refused = queue_body(container={"docker": {"image": "busybox"}, "volumes": VOLUMES})
    assert error_of(api.simulate_post("/queues/", json=refused), 400)["errors"][0]["path"] == (
        "$.container.volumes[1].mode"
    )
    assert redis_snapshot() == before

    created = api.simulate_post("/queues/", json=queue_body()).json
    stored = redis_snapshot()
    error_of(api.simulate_put(f"/queues/{created['id']}/", json=refused), 400)
    assert redis_snapshot() == stored


def test_what_the_backend_accepts_is_stored(api, task_body):
    body = task_body(container={"docker": {"image": "busybox"}, "volumes": VOLUMES[:1]})
    assert api.simulate_post("/tasks/", json=body).status_code == 201
