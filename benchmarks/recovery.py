"""How long after taking the lease has a new worker reconciled every active task? Prints figures.

A worker launches ``--active`` tasks on the Mesos master test peer (they run until
killed) and is killed with SIGKILL; a new worker takes the leader lease once it lapses
(the lease is short here) and reconciles: it asks the master about every task Redis
believes active and trusts its books only once all answered. Printed: the seconds from
taking the lease to that moment (target: under 5 s for 10,000 active tasks).
Run: ``python benchmarks/recovery.py --active 10000``.
"""

from __future__ import annotations

import argparse
import time

from cluster import Peer, WorkerProcess, rss_mb, store_tasks

from hippo_core.redis_server import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=10)
    args = parser.parse_args()

    peer = Peer(args.agents)
    with RedisServer() as redis_server:
        store_tasks(redis_server.url, args.active, "PENDING", "active")
        first = WorkerProcess(peer.url, redis_server.url)
        started = time.monotonic()
        first.ask("running", args.active)
        launched = time.monotonic() - started
        first.kill()
        killed = time.monotonic()
        second = WorkerProcess(peer.url, redis_server.url)
        led, trusted = second.ask("trusted")  # type: ignore[misc]
        rss, peak = second.ask("memory")  # type: ignore[misc]
        second.stop()
    peer.stop()
    print(f"{args.active} active tasks on {args.agents} agents of the test peer")
    print(f"launched and RUNNING in            {launched:.1f} s (first worker, then SIGKILL)")
    print(f"new worker took the lease after    {led - killed:.1f} s (lease lapses after 2 s)")
    print(f"reconciled, books trusted after    {trusted - led:.2f} s from taking the lease  (target < 5 s)")
    print(f"new worker's RSS                   {rss:.0f} MB now, {peak:.0f} MB at its peak")
    print(f"(this process: {rss_mb():.0f} MB)")


if __name__ == "__main__":
    main()
