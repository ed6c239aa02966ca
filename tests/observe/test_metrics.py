"""``/metrics``: scraped over HTTP from real processes and read with prometheus-client's parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Process, Starter, one_off, sample

pytestmark = pytest.mark.slow


def test_hippo_up_serves_the_api_and_worker_metrics_on_its_one_port(hippo_up: Process) -> None:
    task = hippo_up.post("/tasks/", one_off("echo counted", id="counted"))
    hippo_up.wait_task("counted", ("FINISHED",))
    hippo_up.get(f"/tasks/{task['mesos_id']}/")
    hippo_up.http.get(f"{hippo_up.url}/tasks/no-such-task/", timeout=10)

    m = hippo_up.metrics()
    # Read from Redis when scraped: one one-off task, finished.
    assert sample(m, "hippo_tasks", state="FINISHED", queue="") >= 1
    assert sample(m, "hippo_tasks", state="PENDING", queue="") == 0
    # Counted from the event hook by the worker in the same process.
    assert sample(m, "hippo_launches_total") >= 1
    assert sample(m, "hippo_task_transitions_total", state="FINISHED", reason="") >= 1
    assert sample(m, "hippo_task_transitions_total", state="RUNNING", reason="") >= 1
    assert sample(m, "hippo_offers_total", outcome="used") >= 1
    assert sample(m, "hippo_leader") == 1
    assert sample(m, "hippo_backend_connected") == 1
    # Requests by route template, never by raw path.
    assert (
        sample(
            m,
            "hippo_http_request_duration_seconds_count",
            route="/tasks/{task_id}",
            method="GET",
            status="200",
        )
        >= 1
    )
    assert (
        sample(
            m,
            "hippo_http_request_duration_seconds_count",
            route="/tasks/{task_id}",
            method="GET",
            status="404",
        )
        >= 1
    )
    routes = {
        dict(labels).get("route") for (name, labels) in m if name.startswith("hippo_http_request_duration")
    }
    assert not any("counted" in r or "no-such-task" in r for r in routes if r), routes


def test_polls_are_timed_counted_and_their_lag_shown(hippo_up: Process, redis_server, redis_client) -> None:
    redis_client.rpush("jobs-for-metrics", "a", "b", "c")
    host, port = redis_server.url.removeprefix("redis://").split("/")[0].split(":")
    queue = hippo_up.post(
        "/queues/",
        {
            **one_off("echo $HIPPO_DATA"),
            "queue": {
                "type": "redis",
                "name": "metrics",
                "frequency_seconds": 1,
                "redis": {"host": host, "port": int(port), "name": "jobs-for-metrics"},
            },
        },
    )
    hippo_up.wait("three tasks", lambda: hippo_up.get("/tasks/", queue_id=queue["id"])["total"] == 3)
    hippo_up.wait(
        "a second poll",
        lambda: sample(hippo_up.metrics(), "hippo_poll_duration_seconds_count", queue_type="redis") >= 2,
    )

    m = hippo_up.metrics()
    assert sample(m, "hippo_items_taken_total", queue_type="redis") == 3
    assert sample(m, "hippo_poll_errors_total", queue_type="redis") == 0
    assert ("hippo_queue_lag_seconds", (("queue", queue["id"]),)) in m
    assert 0 <= sample(m, "hippo_queue_lag_seconds", queue=queue["id"]) < 5
    hippo_up.wait(
        "the queue's tasks counted by state",
        lambda: sample(hippo_up.metrics(), "hippo_tasks", state="FINISHED", queue=queue["id"]) == 3,
    )

    # A failing source is counted as a poll error.
    hippo_up.http.delete(f"{hippo_up.url}/queues/{queue['id']}/", timeout=10)
    broken = hippo_up.post(
        "/queues/",
        {
            **one_off("true"),
            "queue": {
                "type": "redis",
                "name": "broken",
                "redis": {"host": "127.0.0.1", "port": 1, "name": "x"},
            },
        },
    )
    hippo_up.wait(
        "a poll error",
        lambda: sample(hippo_up.metrics(), "hippo_poll_errors_total", queue_type="redis") >= 1,
    )
    hippo_up.http.delete(f"{hippo_up.url}/queues/{broken['id']}/", timeout=10)


def test_hippo_worker_serves_its_metrics_on_metrics_port(hippo: Starter, redis_url: str) -> None:
    worker = hippo.start(
        ["worker", "--backend", "local", "--metrics-port", "{port}"],
        env={"HIPPO_REDIS_URL": redis_url},
        ready="/metrics",
    )
    m = worker.wait(
        "the worker to lead", lambda: (m := worker.metrics()) and sample(m, "hippo_leader") == 1 and m
    )
    worker.wait("the backend to connect", lambda: sample(worker.metrics(), "hippo_backend_connected") == 1)
    # The worker counts what it does; the task counts by state are the API's to serve.
    assert not any(name == "hippo_tasks" for name, _ in m)
    assert ("hippo_launches_total", ()) in m


def test_several_api_processes_report_their_sum(hippo: Starter, redis_url: str, tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"HIPPO_REDIS_URL": redis_url, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    first = hippo.start(["api", "--port", "{port}"], env=env)
    second = hippo.start(["api", "--port", "{port}"], env=env)
    for _ in range(3):
        first.http.get(f"{first.url}/tasks/", timeout=10)
    for _ in range(4):
        second.http.get(f"{second.url}/tasks/", timeout=10)

    for api in (first, second):
        m = api.metrics()
        assert (
            sample(m, "hippo_http_request_duration_seconds_count", route="/tasks", method="GET", status="200")
            == 7
        )
