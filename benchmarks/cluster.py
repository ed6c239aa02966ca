"""What memory.py and recovery.py share: a test peer whose tasks run until killed, workers in
processes of their own (so their memory and CPU are theirs), finished tasks stored in bulk.

Not a figure of its own; imported by the scripts beside it.
"""

from __future__ import annotations

import multiprocessing
import resource
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from hippo_mesos_peer import Hang, MesosMasterPeer, SimAgent

CPUS, MEM = 0.01, 4.0
LEASE_SECONDS = 2.0


def rss_mb(pid: int | None = None) -> float:
    """Resident memory now, from /proc (Linux)."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _run_peer(agents: int, conn: Connection) -> None:
    sims = [SimAgent(hostname=f"agent{i}", cpus=1000.0, mem=1_000_000.0) for i in range(agents)]
    with MesosMasterPeer(
        agents=sims,
        heartbeat_interval=1.0,
        allocation_interval=0.05,
        default_behavior=Hang(),
        status_update_retry=10.0,
        record_events=False,
    ) as peer:
        conn.send(peer.url)
        conn.recv()


class Peer:
    """The Mesos master test peer in a process of its own."""

    def __init__(self, agents: int = 10) -> None:
        self.conn, there = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_run_peer, args=(agents, there), daemon=True)
        self.process.start()
        self.url: str = self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join()


def store_tasks(redis_url: str, count: int, state: str, family: str) -> None:
    """``count`` tasks in ``state``, stored directly (as if they had run), 1,000 per write."""
    from hippo_core.documents import validate_task
    from hippo_core.states import new_task
    from hippo_core.store import Store

    store = Store.from_url(redis_url)
    definition = validate_task(
        {
            "cmd": "sleep 1d",
            "cpus": CPUS,
            "mem": MEM,
            "max_concurrent": 1_000_000,
            "container": {"docker": {"image": "busybox:1.36"}},
        }
    )
    definition.pop("data")
    for start in range(0, count, 1000):
        batch = []
        for i in range(start, min(count, start + 1000)):
            task = new_task(definition, family=family, queue_id=None, data=str(i))
            task["state"] = state
            batch.append(task)
        store.create_tasks(batch)
    store.close()


def _run_worker(peer_url: str, redis_url: str, conn: Connection) -> None:
    """A worker as `hippo worker` composes it; reports when it leads and when its books are trusted."""
    from hippo_core import compose, events
    from hippo_core.backends.mesos.backend import MesosBackend
    from hippo_core.config import load_config
    from hippo_core.worker import Worker

    config = load_config(env={"HIPPO_REDIS_URL": redis_url}).with_overrides(
        leader_lease_seconds=LEASE_SECONDS, refuse_seconds=0.5
    )
    store = compose.open_store(config)
    store.cache_records(compose.WORKER_RECORD_CACHE)
    led: list[float] = []
    events.subscribe(lambda e: led.append(time.monotonic()) if e.kind == "leader.changed" else None)
    worker = Worker(config, store, lambda: MesosBackend([peer_url]), tick_seconds=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    while True:
        command = conn.recv()
        if command == "trusted":
            while not (worker.term is not None and worker.term.tracker.trusted()):
                time.sleep(0.01)
            conn.send((led[0], time.monotonic()))
        elif command == "running":
            target = conn.recv()
            while store.count("RUNNING") < target:
                time.sleep(0.05)
            conn.send(True)
        elif command == "memory":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            conn.send((rss_mb(), peak))
        elif command == "stop":
            worker.stop()
            thread.join()
            conn.send(True)
            return


class WorkerProcess:
    def __init__(self, peer_url: str, redis_url: str) -> None:
        self.conn, there = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_run_worker, args=(peer_url, redis_url, there))
        self.process.start()

    def ask(self, *command: object) -> object:
        for part in command:
            self.conn.send(part)
        return self.conn.recv()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join()
