"""How much memory does a worker hold with many tasks stored and many active? Prints figures.

Stores ``--finished`` FINISHED tasks, lets a worker launch ``--active`` tasks on the Mesos
master test peer (they run until killed), then kills it (SIGKILL) and starts a second
worker, which reconciles them and carries on for ``--settle`` seconds (its sweeps of
unreachable, staging and killing tasks included). Printed: the resident memory of both
workers (target: under 150 MB with 100,000 finished and 5,000 active).
Run: ``python benchmarks/memory.py --finished 100000 --active 5000``.
"""

from __future__ import annotations

import argparse
import time

from cluster import Peer, WorkerProcess, store_tasks

from hippo_core.redis_server import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--active", type=int, default=5000)
    parser.add_argument("--settle", type=float, default=15.0)
    args = parser.parse_args()

    peer = Peer()
    with RedisServer() as redis_server:
        store_tasks(redis_server.url, args.finished, "FINISHED", "done")
        store_tasks(redis_server.url, args.active, "PENDING", "active")
        first = WorkerProcess(peer.url, redis_server.url)
        first.ask("running", args.active)
        first_rss, first_peak = first.ask("memory")  # type: ignore[misc]
        first.kill()
        second = WorkerProcess(peer.url, redis_server.url)
        second.ask("trusted")
        time.sleep(args.settle)
        second_rss, second_peak = second.ask("memory")  # type: ignore[misc]
        second.stop()
    peer.stop()
    print(f"{args.finished} FINISHED and {args.active} active tasks stored")
    print(f"worker that launched them   RSS {first_rss:.0f} MB, peak {first_peak:.0f} MB")
    print(
        f"worker that took over       RSS {second_rss:.0f} MB, peak {second_peak:.0f} MB  (target < 150 MB)"
    )


if __name__ == "__main__":
    main()
