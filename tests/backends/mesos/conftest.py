"""Fixtures for driving Hippo's Mesos client against the Mesos master test peer.

Test modules get helpers through fixtures (``wait_until``, ``recorder``,
``make_driver``, ``partition_proxy``) because modules beside a conftest cannot
import it.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hippo_core.backends.mesos.client import MesosSchedulerDriver, Scheduler
from hippo_mesos_peer import Finish, MesosMasterPeer, SimAgent

WAIT = 15.0  # generous: the machines running the suite are shared and slow at times


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting after {timeout}s for {what or predicate}")
        time.sleep(0.01)


class Recorder(Scheduler):
    """Records every callback; can be told to raise from ``update``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.raise_on_update: Callable[[dict], bool] = lambda status: False
        self.on_offers: Callable[[MesosSchedulerDriver, list[dict]], None] | None = None

    def _add(self, kind: str, payload: Any) -> None:
        with self._lock:
            self.events.append((kind, payload))

    def of(self, kind: str) -> list[Any]:
        with self._lock:
            return [payload for k, payload in self.events if k == kind]

    def updates(self, task_id: str) -> list[dict]:
        return [s for s in self.of("update") if s["task_id"]["value"] == task_id]

    def states(self, task_id: str) -> list[str]:
        return [s["state"] for s in self.updates(task_id)]

    def subscribed(self, driver: MesosSchedulerDriver, framework_id: str, event: dict) -> None:
        self._add("subscribed", framework_id)

    def offers(self, driver: MesosSchedulerDriver, offers: list[dict]) -> None:
        self._add("offers", offers)
        if self.on_offers is not None:
            self.on_offers(driver, offers)

    def rescind(self, driver: MesosSchedulerDriver, offer_id: str) -> None:
        self._add("rescind", offer_id)

    def update(self, driver: MesosSchedulerDriver, status: dict) -> None:
        self._add("update", status)
        if self.raise_on_update(status):
            raise RuntimeError(f"refusing {status['state']} of {status['task_id']['value']}")

    def failure(self, driver: MesosSchedulerDriver, failure: dict) -> None:
        self._add("failure", failure)

    def error(self, driver: MesosSchedulerDriver, message: str) -> None:
        self._add("error", message)

    def disconnected(self, driver: MesosSchedulerDriver, reason: str) -> None:
        self._add("disconnected", reason)


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def new_recorder() -> Callable[[], Recorder]:
    return Recorder


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    agent = SimAgent(hostname="agent1", cpus=4.0, mem=8192.0, disk=10000.0, attributes={"rack": "r1"})
    with MesosMasterPeer(
        agents=[agent],
        heartbeat_interval=15.0,
        allocation_interval=0.05,
        default_behavior=Finish(after=0.05),
        status_update_retry=0.2,
    ) as running:
        yield running


FRAMEWORK_INFO = {"user": "root", "name": "hippo-test", "failover_timeout": 300.0}


@pytest.fixture
def make_driver() -> Iterator[Callable[..., MesosSchedulerDriver]]:
    """Build and start drivers (fast backoff); all are stopped after the test."""
    drivers: list[MesosSchedulerDriver] = []

    def make(
        scheduler: Scheduler,
        masters: list[str],
        framework_id: str | None = None,
        framework_info: dict[str, Any] | None = None,
        **options: Any,
    ) -> MesosSchedulerDriver:
        options.setdefault("backoff_initial", 0.05)
        options.setdefault("backoff_max", 0.5)
        driver = MesosSchedulerDriver(
            scheduler, masters, framework_info or FRAMEWORK_INFO, framework_id, **options
        )
        drivers.append(driver)
        driver.start()
        return driver

    yield make
    for driver in drivers:
        driver.stop()


class PartitionProxy:
    """A TCP relay to a server that can go silent without closing anything.

    ``freeze()`` stops relaying bytes on the connections open now while keeping
    their sockets open: what a network partition looks like to both ends. New
    connections still pass, so a client that reconnects gets through.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._frozen: set[int] = set()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closing = threading.Event()
        threading.Thread(target=self._accept, name="partition-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        with self._lock:
            self._frozen.update(id(pair) for pair in self._pairs)

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            for sock in pair:
                sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            upstream = socket.create_connection(self._target)
            pair = (client, upstream)
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=self._relay, args=(pair,), daemon=True).start()

    def _relay(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        other = {client: upstream, upstream: client}
        try:
            while not self._closing.is_set():
                readable, _, _ = select.select([client, upstream], [], [], 0.05)
                with self._lock:
                    frozen = id(pair) in self._frozen
                if frozen:
                    time.sleep(0.05)  # hold everything: neither end hears from the other
                    continue
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    other[sock].sendall(data)
        except OSError:
            return  # one end went away; the relay ends with it
        finally:
            client.close()
            upstream.close()


@pytest.fixture
def partition_proxy() -> Iterator[Callable[[int], PartitionProxy]]:
    proxies: list[PartitionProxy] = []

    def make(target_port: int) -> PartitionProxy:
        proxy = PartitionProxy(target_port)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
