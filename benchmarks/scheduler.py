"""How fast does one worker get tasks through Mesos? Prints figures; asserts nothing.

Posts N one-off tasks straight into the store, starts a worker on the Mesos backend
against the Mesos master test peer (several agents, tasks that finish at once) and
times until every task is FINISHED. Reports tasks per second, the peer's call counts
(ACCEPTs carry many launches each when packing works) and the worker process's peak
memory. Run: ``python benchmarks/scheduler.py --tasks 2000 --agents 10``.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time

from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.config import load_config
from hippo_core.documents import validate_task
from hippo_core.states import new_task
from hippo_core.store import Store
from hippo_core.testing.mesos import Finish, MesosMasterPeer, SimAgent
from hippo_core.testing.redis_server import RedisServer
from hippo_core.worker import Worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--families", type=int, default=4)
    args = parser.parse_args()

    agents = [SimAgent(hostname=f"agent{i}", cpus=32.0, mem=65536.0) for i in range(args.agents)]
    with RedisServer() as redis_server, MesosMasterPeer(
        agents=agents, heartbeat_interval=5.0, allocation_interval=0.05,
        default_behavior=Finish(after=0.0), status_update_retry=10.0, record_events=False,
    ) as peer:
        store = Store.from_url(redis_server.url)
        definition = validate_task({"cmd": "true", "cpus": 0.1, "mem": 32, "max_concurrent": 100000,
                                    "container": {"docker": {"image": "busybox"}}})
        definition.pop("data")
        tasks = [new_task(definition, family=f"bench{i % args.families}", queue_id=None, data=str(i))
                 for i in range(args.tasks)]
        started = time.perf_counter()
        for i in range(0, len(tasks), 500):
            store.create_tasks(tasks[i:i + 500])
        stored = time.perf_counter() - started

        config = load_config(env={}).with_overrides(refuse_seconds=0.5)
        worker = Worker(config, store, lambda: MesosBackend([peer.url]), tick_seconds=0.1)
        thread = threading.Thread(target=worker.run, daemon=True)
        started = time.perf_counter()
        thread.start()
        while store.count("FINISHED") < args.tasks:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        worker.stop()
        thread.join()

        calls: dict[str, int] = {}
        for call, _ in peer.calls:
            calls[call] = calls.get(call, 0) + 1
        launches = sum(len(op["launch"]["task_infos"]) for call, body in peer.calls if call == "ACCEPT"
                       for op in body["accept"]["operations"])
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"tasks                 {args.tasks} in {args.families} families on {args.agents} agents")
    print(f"stored in Redis       {stored:.2f} s ({args.tasks / stored:,.0f} tasks/s)")
    print(f"launched to FINISHED  {elapsed:.2f} s ({args.tasks / elapsed:,.0f} tasks/s)")
    print(f"ACCEPT calls          {calls.get('ACCEPT', 0)} for {launches} launches "
          f"({launches / max(1, calls.get('ACCEPT', 1)):.1f} per ACCEPT)")
    print(f"ACKNOWLEDGE calls     {calls.get('ACKNOWLEDGE', 0)}")
    print(f"DECLINE calls         {calls.get('DECLINE', 0)}")
    print(f"peak RSS (this proc.) {peak_mb:.0f} MB (worker, peer and client together)")


if __name__ == "__main__":
    main()
