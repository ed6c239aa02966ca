"""Docker mode end to end: ``hippo up`` (a real subprocess) on a private ``dockerd``.

``docker_up`` is one ``hippo up`` per module talking to the session's engine, for the
tests that only post tasks and read them back; a test that stops or kills ``hippo up``
starts its own with ``up_on_engine``. After each test nothing of Hippo may be left on
the engine or on disk: no container carrying its instance label, no volume, no env
file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hippo_core.testing.docker import DockerEngine
from hippo_core.testing.hippo_up import Up, UpStarter

pytestmark = pytest.mark.slow

IMAGE = "busybox:latest"


def instance_of(up: Up) -> str:
    return (up.data_dir / "local" / "instance").read_text().strip()


def hippo_containers(engine: DockerEngine, up: Up) -> list[str]:
    return engine.containers(f"label=hippo.instance={instance_of(up)}")


def leftovers(engine: DockerEngine, up: Up) -> dict[str, list[str]]:
    """What a task that ended, or a Hippo that stopped, must not leave behind."""
    return {
        "containers": hippo_containers(engine, up),
        "volumes": engine.volumes(),
        "env files": [str(p) for p in (up.data_dir / "tasks").glob("*/docker.env")],
    }


NOTHING_LEFT = {"containers": [], "volumes": [], "env files": []}


@pytest.fixture(scope="module")
def docker_up(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    starter = UpStarter(tmp_path_factory.mktemp("docker-up"))
    try:
        yield starter.start(env={"DOCKER_HOST": docker_engine.host})
    finally:
        starter.stop_all()


@pytest.fixture
def up_on_engine(docker_engine: DockerEngine, tmp_path: Path) -> Iterator[Callable[..., Up]]:
    """``up_on_engine(data_dir=None, env=None)``: a ``hippo up`` of the test's own on the engine."""
    starter = UpStarter(tmp_path)

    def start(data_dir: Path | None = None, env: dict[str, str] | None = None) -> Up:
        return starter.start(data_dir=data_dir, env={"DOCKER_HOST": docker_engine.host, **(env or {})})

    try:
        yield start
    finally:
        starter.stop_all()


@pytest.fixture
def run_task(docker_up: Up) -> Callable[..., dict[str, Any]]:
    """``run_task(id, cmd, **fields)``: post a busybox task, wait for its end, return it."""

    def run(ident: str, cmd: str, **fields: Any) -> dict[str, Any]:
        container = fields.pop("container", {"docker": {"image": IMAGE}})
        docker_up.post("/tasks/", {"id": ident, "cmd": cmd, "container": container, **fields})
        return docker_up.wait_task(ident, ("FINISHED", "FAILED", "KILLED"))

    return run


@pytest.fixture
def containers_of(docker_engine: DockerEngine) -> Callable[[Up], list[str]]:
    """``containers_of(up)``: names of the containers that ``hippo up`` made on the engine."""
    return lambda up: hippo_containers(docker_engine, up)


@pytest.fixture
def left_behind(docker_engine: DockerEngine) -> Callable[[Up], None]:
    """``left_behind(up)``: assert that nothing of that ``hippo up``'s tasks is left (within 30 s)."""
    return lambda up: assert_nothing_left(docker_engine, up)


@pytest.fixture
def nothing_left(docker_engine: DockerEngine, docker_up: Up) -> Iterator[None]:
    """After the test, once its tasks have ended: nothing of them on the engine or on disk."""
    yield
    assert_nothing_left(docker_engine, docker_up)


def assert_nothing_left(engine: DockerEngine, up: Up, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := leftovers(engine, up)) != NOTHING_LEFT and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == NOTHING_LEFT
