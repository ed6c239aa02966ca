"""What does polling many cron queues cost, and how late do the polls run? Prints figures.

Creates ``--queues`` cron queues due every minute (``* * * * *``) in a private Redis and
runs the worker's poller on them, in a process of its own, for ``--minutes`` minutes.
Printed: the poller's CPU as a share of one core (after its first minute, when every
queue had its first poll), polls and tasks made, and the lag of the polls (how long
after a queue was due its poll ran: from the ``queue.polled`` events) at p50, p99 and max.
Run: ``python benchmarks/poller.py --queues 1000 --minutes 3``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from multiprocessing.connection import Connection

from hippo_core.redis_server import RedisServer


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_poller(redis_url: str, minutes: float, conn: Connection) -> None:
    from hippo_core import events
    from hippo_core.compose import WORKER_RECORD_CACHE
    from hippo_core.poller import Poller
    from hippo_core.registry import QueueTypeRegistry
    from hippo_core.store import Store

    store = Store.from_url(redis_url)
    store.cache_records(WORKER_RECORD_CACHE)
    lags: list[float] = []
    polls = {"first": 0, "later": 0, "tasks": 0}
    started = time.monotonic()
    warm = started + 60.0

    def seen(event: events.Event) -> None:
        if event.kind != "queue.polled":
            return
        polls["tasks"] += int(event.data.get("tasks", 0))
        if time.monotonic() < warm:
            polls["first"] += 1
        else:
            polls["later"] += 1
            lags.append(float(event.data.get("lag", 0.0)))

    events.subscribe(seen)
    poller = Poller(store, QueueTypeRegistry(), threads=8)
    poller.start()
    while time.monotonic() < warm:
        time.sleep(0.5)
    cpu, wall = cpu_seconds(), time.monotonic()
    while time.monotonic() < started + minutes * 60:
        time.sleep(0.5)
    used, elapsed = cpu_seconds() - cpu, time.monotonic() - wall
    poller.stop()
    conn.send((used, elapsed, polls, sorted(lags)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()

    from hippo_core.documents import validate_queue
    from hippo_core.registry import QueueTypeRegistry
    from hippo_core.store import Store

    with RedisServer() as redis_server:
        store = Store.from_url(redis_server.url)
        registry = QueueTypeRegistry()
        now = time.time()
        for i in range(args.queues):
            document = validate_queue(
                {
                    "cmd": "report $HIPPO_DATA",
                    "container": {"docker": {"image": "busybox:1.36"}},
                    "queue": {
                        "type": "cron",
                        "name": f"every minute {i}",
                        "cron": {"cronstring": "* * * * *", "timezone": "UTC", "maxbacklog": 1},
                    },
                },
                registry,
            )
            record = {
                **document,
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "created_at": now,
                "updated_at": now,
            }
            store.create_queue(record)  # type: ignore[arg-type]
        store.close()
        here, there = multiprocessing.Pipe()
        process = multiprocessing.Process(target=run_poller, args=(redis_server.url, args.minutes, there))
        process.start()
        used, elapsed, polls, lags = here.recv()
        process.join()

    def pct(q: float) -> float:
        return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")

    share = used / elapsed
    print(f"{args.queues} cron queues due every minute, polled for {args.minutes:g} minutes")
    print(f"polls                 {polls['first']} in the first minute, {polls['later']} after")
    print(f"tasks made            {polls['tasks']}")
    print(f"poller CPU            {share:.1%} of a core after the first minute  (target < 10%)")
    worst = lags[-1] if lags else float("nan")
    lag = f"p50 {pct(0.5):.3f} s, p99 {pct(0.99):.3f} s, max {worst:.3f} s"
    print(f"lag of polls          {lag}  (target p99 < 1 s)")


if __name__ == "__main__":
    main()
