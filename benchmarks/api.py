"""How fast does the API answer, next to a trivial route on the same server? Prints figures.

Stores ``--tasks`` tasks (10% PENDING, the rest FINISHED) and ``--queues`` queues in a
private Redis, starts ``hippo api`` on it (its default threads), and drives each path
with ``wrk`` (``--clients`` connections, ``--seconds`` each), one after the other in
this process tree. ``GET /healthz`` runs first and last; the paths' rates are shown as
a share of its mean, with their p99 latency, against the targets of issue 12.
Needs ``wrk`` (Debian: ``apt-get install wrk``).
Run: ``python benchmarks/api.py`` (defaults: 100,000 tasks, 32 clients, 10 s per path).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from hippo_core.documents import validate_task
from hippo_core.ports import free_port
from hippo_core.redis_server import RedisServer
from hippo_core.states import new_task
from hippo_core.store import Store

POST_BODY = '{"cmd": "true", "container": {"docker": {"image": "busybox:1.36"}}}'

# path, minimum share of /healthz, p99 ceiling in ms (None: no target)
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "GET /tasks/{id}/": (0.60, None),
    "GET /queues/{id}/": (0.60, None),
    "GET /tasks/?limit=50": (0.25, 100.0),
    "GET /tasks/?state=PENDING&limit=50": (0.25, 100.0),
    "POST /tasks/": (0.40, None),
    "GET /queues/?limit=1000": (None, None),
}


def populate(store: Store, tasks: int, queues: int) -> tuple[str, str]:
    definition = validate_task({"cmd": "true", "container": {"docker": {"image": "busybox:1.36"}}})
    definition.pop("data")
    definition.pop("id", None)
    queue_ids = []
    now = time.time()
    for i in range(queues):
        queue_id = f"00000000-0000-4000-8000-{i:012d}"
        record = {
            **definition,
            "id": queue_id,
            "queue": {
                "type": "cron",
                "name": f"queue {i}",
                "status": "DISABLED",
                "max_concurrent": 10000,
                "batch_size": 1,
                "batch_separator": "|",
                "frequency_seconds": 60,
                "cron": {"cronstring": "* * * * *", "timezone": "UTC", "maxbacklog": 1},
            },
            "created_at": now + i,
            "updated_at": now + i,
        }
        store.create_queue(record)  # type: ignore[arg-type]
        queue_ids.append(queue_id)
    batch = []
    first = None
    for i in range(tasks):
        family = queue_ids[i % len(queue_ids)] if queue_ids and i % 2 else f"family-{i % 100}"
        task = new_task(definition, family=family, queue_id=None, data=str(i), now=now + i / 1000)
        if i % 10:
            task["state"] = "FINISHED"
        first = first or task["mesos_id"]
        batch.append(task)
        if len(batch) == 1000:
            store.create_tasks(batch)
            batch = []
    if batch:
        store.create_tasks(batch)
    return first or "", queue_ids[0] if queue_ids else ""


def wrk(url: str, seconds: int, clients: int, script: Path | None = None) -> tuple[float, float]:
    """Requests per second and p99 latency in ms."""
    argv = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        print(f"  ({non_2xx.group(1)} error responses from {url})", file=sys.stderr)
    return rate, float(p99) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    with RedisServer() as redis_server, tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(redis_server.url)
        started = time.perf_counter()
        task_id, queue_id = populate(store, args.tasks, args.queues)
        print(f"stored {args.tasks} tasks and {args.queues} queues in {time.perf_counter() - started:.1f} s")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
        env.update(HIPPO_REDIS_URL=redis_server.url, HIPPO_LOG_LEVEL="WARNING")
        api = subprocess.Popen(
            [sys.executable, "-m", "hippo_core.cli", "api", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if requests.get(f"{base}/healthz", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            post = Path(tmp) / "post.lua"
            post.write_text(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = '{POST_BODY}'\n"
            )
            paths = {
                "GET /tasks/{id}/": (f"{base}/tasks/{task_id}/", None),
                "GET /queues/{id}/": (f"{base}/queues/{queue_id}/", None),
                "GET /tasks/?limit=50": (f"{base}/tasks/?limit=50", None),
                "GET /tasks/?state=PENDING&limit=50": (f"{base}/tasks/?state=PENDING&limit=50", None),
                "POST /tasks/": (f"{base}/tasks/", post),
                "GET /queues/?limit=1000": (f"{base}/queues/?limit=1000", None),
            }
            wrk(f"{base}/healthz", 2, args.clients)  # warm up
            health_before = wrk(f"{base}/healthz", args.seconds, args.clients)
            slow = "GET /queues/?limit=1000"
            results = {
                name: wrk(url, args.seconds, args.clients, script)
                for name, (url, script) in paths.items()
                if name != slow
            }
            health_after = wrk(f"{base}/healthz", args.seconds, args.clients)
            # Last: a backlog of these would hold up whatever ran after it.
            results[slow] = wrk(paths[slow][0], args.seconds, args.clients)
        finally:
            api.terminate()
            api.wait()
        store.close()

    health = (health_before[0] + health_after[0]) / 2
    print(
        f"{args.clients} clients, {args.seconds} s per path, {os.cpu_count()} cores, wrk on the same machine"
    )
    print(f"{'path':36} {'req/s':>8} {'share':>7} {'p99 ms':>8}  target")
    print(
        f"{'GET /healthz':36} {health:8.0f} {1:7.0%} {max(health_before[1], health_after[1]):8.1f}"
        f"  (before {health_before[0]:.0f}, after {health_after[0]:.0f})"
    )
    for name, (rate, p99) in results.items():
        share = rate / health
        floor, ceiling = TARGETS[name]
        wanted = []
        met = True
        if floor is not None:
            wanted.append(f">= {floor:.0%}")
            met = met and share >= floor
        if ceiling is not None:
            wanted.append(f"p99 < {ceiling:.0f} ms")
            met = met and p99 < ceiling
        verdict = "" if not wanted else (" ".join(wanted) + (" met" if met else " MISSED"))
        print(f"{name:36} {rate:8.0f} {share:7.0%} {p99:8.1f}  {verdict}")


if __name__ == "__main__":
    main()
