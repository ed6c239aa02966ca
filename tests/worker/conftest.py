"""A Hippo worker driving the Mesos master test peer, with a real Redis and the real API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import falcon.testing
import pytest

from hippo_core import compose
from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.config import Config, load_config
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.worker import Worker
from hippo_mesos_peer import Finish, MesosMasterPeer, SimAgent

AGENTS = [
    SimAgent(hostname="agent1", cpus=4.0, mem=4096.0, attributes={"rack": "r1", "zone": "a"}),
    SimAgent(hostname="agent2", cpus=4.0, mem=4096.0, attributes={"rack": "r2", "zone": "a"}),
    SimAgent(hostname="agent3", cpus=4.0, mem=4096.0, attributes={"rack": "r3", "zone": "b"}),
]

DOCKER = {"docker": {"image": "busybox"}}


def worker_config(redis_url: str, **overrides: Any) -> Config:
    settings = {"leader_lease_seconds": 2.0, "refuse_seconds": 0.2, **overrides}
    return load_config(env={"HIPPO_REDIS_URL": redis_url}).with_overrides(**settings)


def mesos_backend_factory(masters: list[str]) -> Callable[[], MesosBackend]:
    return lambda: MesosBackend(masters, failover_timeout=300.0, backoff_initial=0.05, backoff_max=0.5)


@dataclass
class RunningWorker:
    worker: Worker
    thread: threading.Thread

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the worker did not stop"


@dataclass
class Hippo:
    """The API (as ``hippo api`` builds it: the Mesos backend validates and reads logs), a store
    and workers on one Redis, against ``peer``."""

    peer: MesosMasterPeer
    store: Store
    config: Config
    api: falcon.testing.TestClient
    workers: list[RunningWorker] = field(default_factory=list)

    def start_worker(
        self, backend_factory: Callable[[], MesosBackend] | None = None, **overrides: Any
    ) -> RunningWorker:
        config = self.config.with_overrides(**overrides) if overrides else self.config
        factory = backend_factory or mesos_backend_factory([self.peer.url])
        worker = Worker(config, self.store, factory, tick_seconds=0.1)
        thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
        thread.start()
        running = RunningWorker(worker, thread)
        self.workers.append(running)
        return running

    def post_task(self, **fields: Any) -> dict[str, Any]:
        body = {"cmd": "true", "cpus": 0.5, "mem": 128, "container": DOCKER, **fields}
        result = self.api.simulate_post("/tasks/", json=body)
        assert result.status_code == 201, result.json
        return result.json

    def logs(self, ident: str, **params: Any) -> falcon.testing.Result:
        return self.api.simulate_get(f"/tasks/{ident}/logs/", params=params)

    def task(self, ident: str) -> dict[str, Any]:
        result = self.api.simulate_get(f"/tasks/{ident}/")
        assert result.status_code == 200, result.json
        return result.json

    def wait_state(self, ident: str, *wanted: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task = self.task(ident)
            if task["state"] in wanted:
                return task
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"task {ident} is {task['state']} ({task['mesos_state']}, "
                    f"pending_reason={task.get('pending_reason')!r}), not {wanted}"
                )
            time.sleep(0.05)

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[MesosMasterPeer]:
    """The master; a test changes its settings with ``@pytest.mark.peer(launch_delay=30)``."""
    marker = request.node.get_closest_marker("peer")
    settings: dict[str, Any] = {
        "agents": list(AGENTS),
        "heartbeat_interval": 1.0,
        "allocation_interval": 0.05,
        "default_behavior": Finish(after=0.05),
        "status_update_retry": 0.3,
        **(marker.kwargs if marker else {}),
    }
    with MesosMasterPeer(**settings) as master:
        yield master
        master.raise_internal_errors()


@pytest.fixture
def hippo(peer: MesosMasterPeer, redis_url: str) -> Iterator[Hippo]:
    store = Store.from_url(redis_url)
    config = worker_config(redis_url).with_table("mesos", master=peer.url)
    api = falcon.testing.TestClient(compose.api_app(config, store, QueueTypeRegistry.of()))
    h = Hippo(peer, store, config, api)
    try:
        yield h
    finally:
        for running in h.workers:
            running.stop()
        store.close()
