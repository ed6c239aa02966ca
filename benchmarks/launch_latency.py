"""How long from POST of a task that fits to its launch? Prints p50/p99; asserts nothing.

Runs Hippo as it is deployed, on this machine: ``hippo api`` in its own process, a worker
(Mesos backend, production settings: ``refuse_seconds`` 5, a tick a second and wake-ups
through Redis) in this one, and the Mesos master test peer (3 agents of 4 cpus, tasks
finish at once) in a third, with a private Redis. A task's latency is from just before
its ``POST /tasks/`` to the moment the master accepted its launch (the peer's books),
on the same monotonic clock. Tasks are posted one at a time, a random 20-300 ms after
the previous one launched, so they land at every point of the offer cycle.

Scenarios:

- ``idle``: nothing else pending, so offers are suppressed between tasks;
- ``unplaceable``: a ``cpus: 64`` task stays pending throughout, so every offer Hippo
  cannot use is declined with a refuse filter (the head-of-line case of issue 9);
- ``failover``: right after a master failover (the new leader answers 503 while it
  recovers, Hippo resubscribes with its SUPPRESS carried over and reconciles), the first
  task is timed on its own, then the rest as above.

Run: ``python benchmarks/launch_latency.py --tasks 200``. Target: p99 under 200 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import requests

from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.config import load_config
from hippo_core.ports import free_port
from hippo_core.redis_server import RedisServer
from hippo_core.store import Store
from hippo_core.worker import Worker
from hippo_mesos_peer import Finish, MesosMasterPeer, SimAgent

TASK = {"cmd": "true", "cpus": 0.5, "mem": 64, "container": {"docker": {"image": "busybox"}}}


def run_peer(conn: Connection) -> None:
    """The master in a process of its own, answering the benchmark's questions over ``conn``."""
    agents = [SimAgent(hostname=f"agent{i}", cpus=4.0, mem=8192.0) for i in range(3)]
    with MesosMasterPeer(
        agents=agents,
        heartbeat_interval=15.0,
        allocation_interval=1.0,  # the real master's default
        default_behavior=Finish(after=0.0),
        status_update_retry=10.0,
        record_events=False,
    ) as peer:
        conn.send(peer.url)
        while True:
            command, argument = conn.recv()
            if command == "launched":
                task = peer.tasks.get(argument)
                conn.send(task.history[0][1] if task is not None and task.history else None)
            elif command == "subscribed":
                framework = peer.frameworks.get(argument)
                conn.send(framework is not None and framework.connected)
            elif command == "restart":
                peer.restart()
                conn.send(time.monotonic())
            elif command == "calls":
                counts: dict[str, int] = {}
                for call, _ in peer.calls:
                    counts[call] = counts.get(call, 0) + 1
                conn.send(counts)
            else:
                conn.send(None)
                return


class Bench:
    def __init__(self, api_url: str, peer: Connection, store: Store) -> None:
        self.api_url = api_url
        self.peer = peer
        self.store = store
        self.session = requests.Session()

    def ask(self, command: str, argument: object = None) -> object:
        self.peer.send((command, argument))
        return self.peer.recv()

    def post(self, **fields: object) -> tuple[str, float]:
        posted_at = time.monotonic()
        response = self.session.post(f"{self.api_url}/tasks/", json={**TASK, **fields}, timeout=10)
        response.raise_for_status()
        return response.json()["mesos_id"], posted_at

    def latency(self, **fields: object) -> float:
        """Post one task and wait for its launch; seconds from the POST to the launch."""
        task_id, posted_at = self.post(**fields)
        deadline = time.monotonic() + 60
        while True:
            launched = self.ask("launched", task_id)
            if isinstance(launched, float):
                return launched - posted_at
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} did not launch within 60 s")
            time.sleep(0.005)

    def series(self, count: int) -> list[float]:
        samples = []
        for _ in range(count):
            time.sleep(random.uniform(0.02, 0.3))
            samples.append(self.latency())
        return samples

    def wait_subscribed(self) -> None:
        framework_id = self.store.framework_id()
        while not (framework_id and self.ask("subscribed", framework_id)):
            time.sleep(0.01)
            framework_id = self.store.framework_id()


def start_api(redis_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
    env.update(HIPPO_REDIS_URL=redis_url, HIPPO_LOG_LEVEL="WARNING")
    hippo = shutil.which("hippo") or str(Path(sys.executable).with_name("hippo"))
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [hippo, "api", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"hippo api did not come up; see {log}")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def line(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (
        f"{name:<28} n={len(ms):<4} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   "
        f"max {max(ms):7.1f} ms   mean {statistics.fmean(ms):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="tasks timed per scenario")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    random.seed(args.seed)

    here, there = multiprocessing.Pipe()
    master = multiprocessing.Process(target=run_peer, args=(there,), daemon=True)
    master.start()
    peer_url = str(here.recv())
    with RedisServer() as redis_server:
        store = Store.from_url(redis_server.url)
        api, api_url = start_api(redis_server.url, Path("/tmp") / f"hippo-bench-api-{os.getpid()}.log")
        config = load_config(env={"HIPPO_REDIS_URL": redis_server.url}).with_table("mesos", master=peer_url)
        worker = Worker(config, store, lambda: MesosBackend.from_config(config))
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        bench = Bench(api_url, here, store)
        try:
            bench.wait_subscribed()
            idle = bench.series(args.tasks)
            bench.post(cpus=64)  # fits no agent: pending for good
            time.sleep(2.0)
            unplaceable = bench.series(args.tasks)
            bench.ask("restart")
            first = bench.latency()
            bench.wait_subscribed()
            failover = bench.series(args.tasks)
            calls = bench.ask("calls")
        finally:
            worker.stop()
            thread.join(timeout=30)
            api.terminate()
            api.wait(timeout=30)
            bench.ask("stop")
            master.join(timeout=30)

    print(f"launch latency, POST to launch ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cpus)")
    print(line("idle (offers suppressed)", idle))
    print(line("one unplaceable task pends", unplaceable))
    print(line("after a master failover", failover))
    print(
        f"{'first task at the failover':<28} {first * 1000:7.1f} ms "
        "(recovery, resubscription and reconciliation included)"
    )
    print(f"calls to the master: {dict(sorted(calls.items())) if isinstance(calls, dict) else calls}")


if __name__ == "__main__":
    main()
