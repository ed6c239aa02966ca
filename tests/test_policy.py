"""The [policy] table: each rule, table-driven, and the two places each is enforced."""

from __future__ import annotations

import falcon.testing
import pytest

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.policy import OwnRedis, Policy, PolicySettings, run_as
from hippo_core.queuetype import Endpoint

DEFAULTS = Policy(PolicySettings(), OwnRedis.of("redis://localhost:6379/0"))


def _definition(**container: object) -> dict:
    docker = {"image": "busybox", "network": "BRIDGE", "parameters": []}
    docker.update(container.pop("docker", {}))  # type: ignore[arg-type]
    return {"cmd": "x", "cpus": 1, "mem": 64, "container": {"docker": docker, **container}}


VOLUMES = [
    ("/", True),
    ("/etc", True),
    ("/etc/ssl/certs", True),
    ("//etc", True),
    ("/srv/../etc", True),
    ("/root/.ssh", True),
    ("/proc", True),
    ("/sys/fs", True),
    ("/var/run/docker.sock", True),
    ("/var/run", True),  # contains the Docker socket
    ("/var", True),
    ("/srv/data", False),
    ("/home/app/work", False),
    ("/etcetera", False),
    ("/tmp", False),
]


@pytest.mark.parametrize(("host_path", "refused"), VOLUMES)
def test_host_volume_paths(host_path: str, refused: bool) -> None:
    definition = _definition(volumes=[{"containerPath": "/data", "hostPath": host_path, "mode": "RO"}])
    problems = DEFAULTS.task_problems(definition)
    assert bool(problems) == refused, problems
    if refused:
        assert problems[0].path == "$.container.volumes[0].hostPath"
        assert "[policy] denied_volume_paths" in problems[0].message


def test_an_allow_list_of_volume_paths() -> None:
    policy = Policy(PolicySettings(allowed_volume_paths=("/srv/hippo",)))
    ok = _definition(volumes=[{"containerPath": "/d", "hostPath": "/srv/hippo/x", "mode": "RW"}])
    out = _definition(volumes=[{"containerPath": "/d", "hostPath": "/srv/other", "mode": "RW"}])
    assert policy.task_problems(ok) == []
    assert "allowed_volume_paths" in policy.task_problems(out)[0].message


PARAMETERS = [
    ("privileged", True),
    ("--privileged", True),
    ("pid", True),
    ("cap-add", True),
    ("cap-add=ALL", True),
    ("CAP-ADD", True),
    ("net", True),
    ("network", True),
    ("volume", True),
    ("volumes-from", True),
    ("mount", True),
    ("env-file", True),
    ("cidfile", True),
    ("security-opt", True),
    ("device", True),
    ("memory-swap", False),
    ("ulimit", False),
    ("label", False),
]


@pytest.mark.parametrize(("key", "refused"), PARAMETERS)
def test_docker_parameters(key: str, refused: bool) -> None:
    problems = DEFAULTS.task_problems(_definition(docker={"parameters": [{"key": key, "value": "x"}]}))
    assert bool(problems) == refused, problems
    if refused:
        assert "[policy] denied_docker_parameters" in problems[0].message


@pytest.mark.parametrize(
    ("settings", "definition", "path"),
    [
        (
            PolicySettings(allowed_networks=("BRIDGE",)),
            _definition(docker={"network": "HOST"}),
            "$.container.docker.network",
        ),
        (PolicySettings(max_cpus=2), {**_definition(), "cpus": 4}, "$.cpus"),
        (PolicySettings(max_mem=128), {**_definition(), "mem": 256}, "$.mem"),
        (PolicySettings(max_concurrent=5), {**_definition(), "max_concurrent": 10}, "$.max_concurrent"),
    ],
)
def test_networks_and_maxima(settings, definition, path) -> None:
    problems = Policy(settings).task_problems(definition)
    assert [p.path for p in problems] == [path]
    assert "[policy]" in problems[0].message


SOURCES = [
    # (endpoint, refused at the API, the setting named)
    (Endpoint("host", host="169.254.169.254", port=80), "denied_sources"),
    (Endpoint("host", host="fe80::1", port=80), "denied_sources"),
    (Endpoint("host", host="::ffff:169.254.169.254", port=80), "denied_sources"),
    (Endpoint("host", host="10.1.2.3", port=2375), "denied_source_ports"),
    (Endpoint("host", host="localhost", port=6379, database="0"), "stores its own state"),
    (Endpoint("host", host="127.0.0.1", port=6379, database="0"), "stores its own state"),
    (Endpoint("host", host="LOCALHOST", port=6379, database="0"), "stores its own state"),
    (Endpoint("host", host="localhost", port=6379, database="1"), None),
    (Endpoint("host", host="localhost", port=6380, database="0"), None),
    (Endpoint("host", host="db.internal", port=5432), None),
    (Endpoint("host", host="10.0.0.5", port=5432), None),
    (Endpoint("conn_string", path="/var/lib/app.db"), "sqlite_dirs"),
]


@pytest.mark.parametrize(
    ("endpoint", "named"), SOURCES, ids=[f"{e.host or e.path}:{e.port}" for e, _ in SOURCES]
)
def test_sources_by_default(endpoint: Endpoint, named: str | None) -> None:
    problems = DEFAULTS.source_problems([endpoint])
    if named is None:
        assert problems == []
    else:
        assert len(problems) == 1 and named in problems[0][1], problems


def test_sqlite_only_under_its_directories(tmp_path) -> None:
    policy = Policy(PolicySettings(sqlite_dirs=(str(tmp_path / "ok"),)))
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "link.db").symlink_to("/etc/passwd")
    assert policy.source_problems([Endpoint("c", path=str(tmp_path / "ok" / "a.db"))]) == []
    assert policy.source_problems([Endpoint("c", path=str(tmp_path / "ok/../a.db"))])
    # Before a poll the path is followed through its symlinks.
    assert policy.source_problems([Endpoint("c", path=str(tmp_path / "ok" / "link.db"))], resolve=True)


def test_an_allow_list_of_sources() -> None:
    policy = Policy(PolicySettings(allowed_sources=("10.0.0.0/8", ".internal")))
    assert policy.source_problems([Endpoint("h", host="10.2.3.4")]) == []
    assert policy.source_problems([Endpoint("h", host="db.internal")]) == []
    assert policy.source_problems([Endpoint("h", host="192.168.1.1")])
    # A name the API cannot place is left to the poller, which resolves it before polling.
    assert policy.source_problems([Endpoint("h", host="db.example")]) == []
    assert policy.source_problems([Endpoint("h", host="localhost")], resolve=True)


def test_the_api_refuses_with_the_rule_named(client, error_of, task_body, queue_body, redis_snapshot) -> None:
    before = redis_snapshot()
    body = task_body(
        container={"docker": {"image": "busybox", "parameters": [{"key": "privileged", "value": ""}]}}
    )
    error = error_of(client.simulate_post("/tasks/", json=body), 400)
    assert error["errors"] == [
        {
            "path": "$.container.docker.parameters[0].key",
            "message": "--privileged is refused by [policy] denied_docker_parameters",
        }
    ]
    volume = {"containerPath": "/host", "hostPath": "/", "mode": "RW"}
    queue = queue_body(container={"docker": {"image": "busybox"}, "volumes": [volume]})
    error = error_of(client.simulate_post("/queues/", json=queue), 400)
    assert "denied_volume_paths" in error["errors"][0]["message"]
    assert redis_snapshot() == before


def test_the_api_refuses_a_source_the_policy_forbids(store, error_of) -> None:
    from hippo_core.registry import QueueTypeRegistry
    from hippo_redis import RedisQueueType

    app = create_app(
        Config(redis_url="redis://127.0.0.1:6379/0"), store, QueueTypeRegistry.of(RedisQueueType)
    )
    client = falcon.testing.TestClient(app)
    body = {
        "cmd": "x",
        "container": {"docker": {"image": "busybox"}},
        "queue": {
            "type": "redis",
            "name": "q",
            "redis": {"host": "localhost", "port": 6379, "db": 0, "name": "hippo:tasks"},
        },
    }
    error = error_of(client.simulate_post("/queues/", json=body), 400)
    assert error["errors"][0]["path"] == "$.queue.redis.host"
    assert "stores its own state" in error["errors"][0]["message"]
    body["queue"]["redis"]["host"] = "169.254.169.254"
    assert (
        "denied_sources" in error_of(client.simulate_post("/queues/", json=body), 400)["errors"][0]["message"]
    )


def test_the_poller_checks_the_source_again_before_polling(queue_body, store, registry) -> None:
    from hippo_core.poller import Poller
    from hippo_core.queues import QueueService
    from hippo_core.testing.memory_queue import MemoryQueueType
    from hippo_core.testing.polling import poll_now, tasks_of

    class Pointing(MemoryQueueType):
        @classmethod
        def source_endpoints(cls, settings):
            return [Endpoint("list", host="169.254.169.254", port=80)]

    queue = QueueService(store, registry).create(queue_body())  # created before the rule applied
    MemoryQueueType.push("jobs", "a")
    poller = Poller(store, type(registry).of(Pointing), policy=DEFAULTS)
    poll_now(poller, store, queue["id"])
    poller.stop()
    assert tasks_of(store, queue["id"]) == []
    state = store.get_queue_states([queue["id"]])[0]
    assert "denied_sources" in state["last_error"]


def test_the_scheduler_refuses_a_task_stored_before_the_rule(store, task_body) -> None:
    from hippo_core.backends.local.backend import LocalBackend
    from hippo_core.scheduler import Scheduler
    from hippo_core.tasks import TaskService

    task = TaskService(store).create(
        task_body(container={"docker": {"image": "busybox", "parameters": [{"key": "pid", "value": "host"}]}})
    )
    scheduler = Scheduler(store, LocalBackend("/tmp/unused-hippo-policy"), policy=DEFAULTS)
    assert scheduler._runnable(task) is False
    stored = store.get_task(task["mesos_id"])
    assert stored["state"] == "FAILED"
    assert "denied_docker_parameters" in (stored["message"] or "")


def test_run_as_user_applies_only_to_root(monkeypatch) -> None:
    import os

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert run_as(PolicySettings()) is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    nobody = run_as(PolicySettings())
    assert nobody is not None and nobody.name == "nobody" and nobody.uid != 0
    assert run_as(PolicySettings(run_as_user="")) is None
    with pytest.raises(LookupError, match="run_as_user"):
        run_as(PolicySettings(run_as_user="no-such-user-hippo"))
