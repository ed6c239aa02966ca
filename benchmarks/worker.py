"""What does a task lifecycle cost the worker, next to a bare requests-based client? Prints figures.

Both drive the Mesos master test peer (its own process, ``--agents`` agents, tasks that
finish at once: a launch, then TASK_STARTING, TASK_RUNNING and TASK_FINISHED, each
acknowledged) through ``--tasks`` tasks, each in a process of its own so that its CPU
time is its own:

- the bare client: ``requests`` for SUBSCRIBE and every call, Hippo's RecordIO decoder
  for the event stream, launches packed as many to an offer as fit, no Redis;
- ``hippo worker``'s parts (``Worker`` with the Mesos backend) on a private Redis,
  the tasks stored beforehand.

Printed: tasks per second, CPU milliseconds per task of each, the worker's Redis round
trips per lifecycle (from Redis' MONITOR: commands clients sent, a MULTI/EXEC block
counted once, commands run inside scripts not at all; and the total of INFO
commandstats), the peer's own CPU per task, and the ratio of the two throughputs.
Run: ``python benchmarks/worker.py --tasks 2000 --agents 10``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import redis
import requests

from hippo_core.backends.mesos.recordio import RecordIODecoder
from hippo_core.backends.mesos.taskinfo import scalar_resource
from hippo_core.redis_server import RedisServer
from hippo_mesos_peer import Finish, MesosMasterPeer, SimAgent

CPUS, MEM = 0.1, 32.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_peer(agents: int, conn: Connection) -> None:
    """The master in a process of its own: its URL, then its CPU seconds and calls when told to stop."""
    sims = [SimAgent(hostname=f"agent{i}", cpus=32.0, mem=65536.0) for i in range(agents)]
    with MesosMasterPeer(
        agents=sims,
        heartbeat_interval=5.0,
        allocation_interval=0.05,
        default_behavior=Finish(after=0.0),
        status_update_retry=10.0,
        record_events=False,
    ) as peer:
        conn.send(peer.url)
        conn.recv()
        started = cpu_seconds()
        conn.send("go")
        conn.recv()
        calls: dict[str, int] = {}
        for call, _ in peer.calls:
            calls[call] = calls.get(call, 0) + 1
        conn.send((cpu_seconds() - started, calls))


class Peer:
    def __init__(self, agents: int) -> None:
        self.conn, there = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=run_peer, args=(agents, there), daemon=True)
        self.process.start()
        self.url: str = self.conn.recv()

    def start_counting(self) -> None:
        self.conn.send("count")
        self.conn.recv()

    def stop(self) -> tuple[float, dict[str, int]]:
        self.conn.send("stop")
        result: tuple[float, dict[str, int]] = self.conn.recv()
        self.process.join()
        return result


# -- the bare client --------------------------------------------------------------------------


def bare_client(url: str, tasks: int, keep_alive: bool, conn: Connection) -> None:
    """Subscribe, launch ``tasks`` tasks, acknowledge every update; report wall and CPU seconds.

    ``keep_alive``: calls on one ``requests.Session``; else each call is ``requests.post``.
    """
    endpoint = f"{url}/api/v1/scheduler"
    session = requests.Session()
    calls: Any = requests.Session() if keep_alive else requests
    framework = {"user": "root", "name": "bare", "roles": ["*"], "capabilities": [{"type": "MULTI_ROLE"}]}
    started, cpu = time.perf_counter(), cpu_seconds()
    stream = session.post(
        endpoint, json={"type": "SUBSCRIBE", "subscribe": {"framework_info": framework}}, stream=True
    )
    stream_id = stream.headers["Mesos-Stream-Id"]
    headers = {"Mesos-Stream-Id": stream_id}
    decoder = RecordIODecoder()
    framework_id = None
    pending = list(range(tasks))
    finished = 0

    def call(body: dict[str, Any]) -> None:
        resp = calls.post(endpoint, json={"framework_id": {"value": framework_id}, **body}, headers=headers)
        resp.raise_for_status()

    while finished < tasks:
        data = stream.raw.read1(65536)
        for record in decoder.feed(data):
            event = json.loads(record)
            kind = event["type"]
            if kind == "SUBSCRIBED":
                framework_id = event["subscribed"]["framework_id"]["value"]
            elif kind == "OFFERS":
                for offer in event["offers"]["offers"]:
                    free = {
                        r["name"]: r["scalar"]["value"] for r in offer["resources"] if r["type"] == "SCALAR"
                    }
                    fit = int(min(free.get("cpus", 0) / CPUS, free.get("mem", 0) / MEM))
                    batch, pending = pending[:fit], pending[fit:]
                    if not batch:
                        call({"type": "DECLINE", "decline": {"offer_ids": [offer["id"]]}})
                        continue
                    infos = [
                        {
                            "name": f"bare:{n}",
                            "task_id": {"value": f"bare.{n}"},
                            "agent_id": offer["agent_id"],
                            "resources": [scalar_resource("cpus", CPUS), scalar_resource("mem", MEM)],
                            "command": {"shell": True, "value": "true"},
                        }
                        for n in batch
                    ]
                    operation = {"type": "LAUNCH", "launch": {"task_infos": infos}}
                    call(
                        {"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [operation]}}
                    )
            elif kind == "UPDATE":
                status = event["update"]["status"]
                if status.get("uuid"):
                    call(
                        {
                            "type": "ACKNOWLEDGE",
                            "acknowledge": {
                                "agent_id": status["agent_id"],
                                "task_id": status["task_id"],
                                "uuid": status["uuid"],
                            },
                        }
                    )
                if status["state"] == "TASK_FINISHED":
                    finished += 1
    conn.send((time.perf_counter() - started, cpu_seconds() - cpu))
    stream.close()


# -- the worker -------------------------------------------------------------------------------


def hippo_worker(url: str, redis_url: str, tasks: int, conn: Connection) -> None:
    """A worker on the Mesos backend until every stored task finished; wall and CPU seconds."""
    from hippo_core.backends.mesos.backend import MesosBackend
    from hippo_core.compose import WORKER_RECORD_CACHE
    from hippo_core.config import load_config
    from hippo_core.store import Store
    from hippo_core.worker import Worker

    store = Store.from_url(redis_url)
    store.cache_records(WORKER_RECORD_CACHE)  # as hippo worker's composition does
    config = load_config(env={}).with_overrides(refuse_seconds=0.5)
    worker = Worker(config, store, lambda: MesosBackend([url]), tick_seconds=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    conn.recv()
    started, cpu = time.perf_counter(), cpu_seconds()
    thread.start()
    while store.count("FINISHED") < tasks:
        time.sleep(0.01)
    conn.send((time.perf_counter() - started, cpu_seconds() - cpu))
    worker.stop()
    thread.join()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(peak_mb)


class Monitor(threading.Thread):
    """Counts the commands clients send to Redis (not those scripts run), a MULTI/EXEC as one."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.round_trips = 0
        self.commands: dict[str, int] = {}
        self.stopping = False
        self.ready = threading.Event()

    def run(self) -> None:
        in_multi: set[str] = set()
        with self.client.monitor() as monitor:
            self.ready.set()
            for command in monitor.listen():
                if self.stopping:
                    return
                client = command.get("client_address") or command.get("client_type", "")
                if command.get("client_type") == "lua" or client == "lua":
                    continue
                name = command["command"].split(" ", 1)[0].upper().strip('"')
                self.commands[name] = self.commands.get(name, 0) + 1
                source = f"{command.get('client_address')}:{command.get('client_port')}"
                if name == "MULTI":
                    in_multi.add(source)
                    continue
                if source in in_multi:
                    if name in ("EXEC", "DISCARD"):
                        in_multi.discard(source)
                        self.round_trips += 1
                    continue
                self.round_trips += 1


def commandstats_total(client: redis.Redis) -> int:
    return sum(int(v["calls"]) for v in client.info("commandstats").values())


def store_tasks(redis_url: str, tasks: int) -> None:
    from hippo_core.documents import validate_task
    from hippo_core.states import new_task
    from hippo_core.store import Store

    store = Store.from_url(redis_url)
    definition = validate_task(
        {
            "cmd": "true",
            "cpus": CPUS,
            "mem": MEM,
            "max_concurrent": 100000,
            "container": {"docker": {"image": "busybox"}},
        }
    )
    definition.pop("data")
    batch = [new_task(definition, family=f"bench{i % 4}", queue_id=None, data=str(i)) for i in range(tasks)]
    for i in range(0, tasks, 500):
        store.create_tasks(batch[i : i + 500])
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record py-spy profiles (raw, GIL-holding samples) of worker and peer in DIR",
    )
    args = parser.parse_args()
    n = args.tasks

    bare: dict[bool, tuple[float, float, float, dict[str, int]]] = {}
    for keep_alive in (False, True):
        peer = Peer(args.agents)
        here, there = multiprocessing.Pipe()
        peer.start_counting()
        client = multiprocessing.Process(target=bare_client, args=(peer.url, n, keep_alive, there))
        client.start()
        wall, cpu = here.recv()
        client.join()
        peer_cpu, calls = peer.stop()
        bare[keep_alive] = (wall, cpu, peer_cpu, calls)

    with RedisServer() as redis_server:
        store_tasks(redis_server.url, n)
        client = redis.Redis.from_url(redis_server.url)
        peer = Peer(args.agents)
        here, there = multiprocessing.Pipe()
        process = multiprocessing.Process(target=hippo_worker, args=(peer.url, redis_server.url, n, there))
        process.start()
        monitor = Monitor(redis_server.url)
        monitor.start()
        monitor.ready.wait()
        before = commandstats_total(client)
        spies = []
        if args.profile:
            for name, pid in (("worker", process.pid), ("peer", peer.process.pid)):
                out = f"{args.profile}/{name}.raw"
                spies.append(
                    subprocess.Popen(
                        ["py-spy", "record", "--pid", str(pid), "--gil", "--format", "raw", "-o", out],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            time.sleep(1.0)
        peer.start_counting()
        here.send("go")
        worker_wall, worker_cpu = here.recv()
        after = commandstats_total(client)
        monitor.stopping = True
        client.ping()
        peak_mb = here.recv()
        process.join()
        worker_peer_cpu, worker_calls = peer.stop()
        for spy in spies:
            spy.wait()

    worker_rate = n / worker_wall
    print(f"{n} tasks on {args.agents} agents of the test peer, each: launch, 3 updates, 3 acknowledgements")
    print(f"{'':36} {'tasks/s':>8} {'CPU ms/task':>12} {'peer CPU ms/task':>17}")
    rows = [
        ("bare client, requests.post per call", *bare[False][:3]),
        ("bare client, one requests.Session", *bare[True][:3]),
        ("hippo worker", worker_wall, worker_cpu, worker_peer_cpu),
    ]
    for name, wall, cpu, peer_cpu in rows:
        print(f"{name:36} {n / wall:8.0f} {cpu / n * 1000:12.2f} {peer_cpu / n * 1000:17.2f}")
    for keep_alive, label in ((False, "requests.post per call"), (True, "one requests.Session")):
        ratio = worker_rate / (n / bare[keep_alive][0])
        print(f"throughput worker / bare ({label}): {ratio:.2f}  (target >= 1.5)")
    print(f"worker CPU per lifecycle          {worker_cpu / n * 1000:.2f} ms  (target <= 2)")
    print(
        f"Redis round trips per lifecycle   {monitor.round_trips / n:.1f}  (target <= 10; "
        f"commandstats, script-internal commands included: {(after - before) / n:.1f})"
    )
    top = sorted(monitor.commands.items(), key=lambda kv: -kv[1])[:8]
    print("  commands sent: " + ", ".join(f"{k} {v / n:.2f}" for k, v in top))
    print(f"calls to the peer (bare)          {bare[True][3]}")
    print(f"calls to the peer (worker)        {worker_calls}")
    print(f"worker peak RSS                   {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
