"""How fast does one worker get tasks through Mesos? Prints figures; asserts nothing.

Posts N one-off tasks straight into the store, starts a worker on the Mesos backend
against the Mesos master test peer (several agents, tasks that finish at once; the
peer runs in its own process, as a master would) and times until every task is
FINISHED. Reports tasks per second, the peer's call counts (ACCEPTs carry many
launches each when packing works) and the worker's peak memory.
Run: ``python benchmarks/scheduler.py --tasks 2000 --agents 10``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import threading
import time
from multiprocessing.connection import Connection

from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.config import load_config
from hippo_core.documents import validate_task
from hippo_core.redis_server import RedisServer
from hippo_core.states import new_task
from hippo_core.store import Store
from hippo_core.worker import Worker
from hippo_mesos_peer import Finish, MesosMasterPeer, SimAgent


def run_peer(agents: int, conn: Connection) -> None:
    """The master in a process of its own: sends its URL, then its call counts when told to stop."""
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
        calls: dict[str, int] = {}
        launches = 0
        for call, body in peer.calls:
            calls[call] = calls.get(call, 0) + 1
            if call == "ACCEPT":
                launches += sum(len(op["launch"]["task_infos"]) for op in body["accept"]["operations"])
        conn.send((calls, launches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--families", type=int, default=4)
    args = parser.parse_args()

    here, there = multiprocessing.Pipe()
    master = multiprocessing.Process(target=run_peer, args=(args.agents, there), daemon=True)
    master.start()
    peer_url = here.recv()
    with RedisServer() as redis_server:
        store = Store.from_url(redis_server.url)
        definition = validate_task(
            {
                "cmd": "true",
                "cpus": 0.1,
                "mem": 32,
                "max_concurrent": 100000,
                "container": {"docker": {"image": "busybox"}},
            }
        )
        definition.pop("data")
        tasks = [
            new_task(definition, family=f"bench{i % args.families}", queue_id=None, data=str(i))
            for i in range(args.tasks)
        ]
        started = time.perf_counter()
        for i in range(0, len(tasks), 500):
            store.create_tasks(tasks[i : i + 500])
        stored = time.perf_counter() - started

        config = load_config(env={}).with_overrides(refuse_seconds=0.5)
        worker = Worker(config, store, lambda: MesosBackend([peer_url]), tick_seconds=0.1)
        thread = threading.Thread(target=worker.run, daemon=True)
        started = time.perf_counter()
        thread.start()
        while store.count("FINISHED") < args.tasks:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        worker.stop()
        thread.join()
        here.send("stop")
        calls, launches = here.recv()
        master.join()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"tasks                 {args.tasks} in {args.families} families on {args.agents} agents")
    print(f"stored in Redis       {stored:.2f} s ({args.tasks / stored:,.0f} tasks/s)")
    print(f"launched to FINISHED  {elapsed:.2f} s ({args.tasks / elapsed:,.0f} tasks/s)")
    print(
        f"ACCEPT calls          {calls.get('ACCEPT', 0)} for {launches} launches "
        f"({launches / max(1, calls.get('ACCEPT', 1)):.1f} per ACCEPT)"
    )
    print(f"ACKNOWLEDGE calls     {calls.get('ACKNOWLEDGE', 0)}")
    print(f"DECLINE calls         {calls.get('DECLINE', 0)}")
    print(f"peak RSS of worker   {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
