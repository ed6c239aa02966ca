"""Fixtures of the core's tests: the API on the session's Redis, bodies, snapshots, processes.

The Redis fixtures (``redis_server``, ``redis_url``, ``redis_client``) come from
``hippo_core.testing.pytest_plugin``; ``redis_url`` flushes the database per test.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import jsonschema
import pytest
import redis
import requests
from stevedore import ExtensionManager

from hippo_core import schemas
from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.ports import free_port
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.testing.memory_queue import MemoryQueueType
from hippo_core.testing.processes import stop_process

# Secrets the tests send, distinct enough that finding one anywhere is a leak.
TOKEN = "tok-7f3a9c1e5b"
URL_PASSWORD = "pw-5d8e2b6a0c"


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture
def store(hippo_store: Store) -> Store:
    """The Store on the test's Redis (``hippo_store`` of ``hippo_core.testing.pytest_plugin``)."""
    return hippo_store


@pytest.fixture
def registry() -> Iterator[QueueTypeRegistry]:
    MemoryQueueType.clear()
    yield QueueTypeRegistry.of(MemoryQueueType)
    MemoryQueueType.clear()


@pytest.fixture
def app(config: Config, store: Store, registry: QueueTypeRegistry) -> falcon.App:
    return create_app(config, store, registry)


@pytest.fixture
def client(app: falcon.App) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(app)


# Tokens of the apps that have some (tests/api/test_auth.py); none appears in any log.
ADMIN_TOKEN = "admin-token-3c9e81f0d2b7a645"
READ_TOKEN = "read-token-8a4f2c6e1b9d0735"


@pytest.fixture
def token_app(config: Config, store: Store, registry: QueueTypeRegistry) -> falcon.App:
    """The API with an admin token and a read token configured."""
    return create_app(
        config.with_table("auth", admin_tokens=(ADMIN_TOKEN,), read_tokens=(READ_TOKEN,)), store, registry
    )


@pytest.fixture
def admin_client(token_app: falcon.App) -> falcon.testing.TestClient:
    """A client of ``token_app`` that sends the admin token with every request."""
    return falcon.testing.TestClient(token_app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


@pytest.fixture
def secrets_sent() -> tuple[str, str]:
    """The secret values that ``queue_body`` carries: the token and the URL's password."""
    return TOKEN, URL_PASSWORD


@pytest.fixture
def queue_body() -> Callable[..., dict[str, Any]]:
    """A valid queue body of the memory type (with both secrets); keyword args override."""

    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cmd": "echo $HIPPO_DATA",
            "container": {"docker": {"image": "busybox:1.36"}},
            "queue": {
                "type": "memory",
                "name": "jobs",
                "memory": {
                    "list": "jobs",
                    "token": TOKEN,
                    "url": f"memory://app:{URL_PASSWORD}@broker/jobs",
                },
            },
        }
        body.update(copy.deepcopy(overrides))
        return body

    return make


@pytest.fixture
def task_body() -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"cmd": "echo hi", "container": {"docker": {"image": "busybox:1.36"}}}
        body.update(copy.deepcopy(overrides))
        return body

    return make


def _dump_all(client: redis.Redis) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        if kind == "string":
            out[key] = client.get(key)
        elif kind == "zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            out[key] = client.hgetall(key)
        elif kind == "set":
            out[key] = sorted(client.smembers(key))
        elif kind == "list":
            out[key] = client.lrange(key, 0, -1)
        else:
            out[key] = kind
    return out


@pytest.fixture
def redis_snapshot(redis_client: redis.Redis) -> Callable[[], dict[str, Any]]:
    """Every key and value in Redis, to prove a failed request changed nothing."""
    return lambda: _dump_all(redis_client)


ERROR_VALIDATOR = jsonschema.Draft202012Validator(schemas.load("error"))


@pytest.fixture
def error_of() -> Callable[[Any, int], dict[str, Any]]:
    """Check a response is an error with ``status`` in Hippo's one error shape; its body."""

    def check(resp: Any, status: int) -> dict[str, Any]:
        assert resp.status_code == status, resp.text
        content_type = resp.headers.get("content-type", "")
        assert content_type.startswith("application/json"), content_type
        body = json.loads(resp.text)
        ERROR_VALIDATOR.validate(body)
        assert body["status"] == status
        return body

    return check


# -- throw-away plugin distributions ------------------------------------------------------


@pytest.fixture
def fresh_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """stevedore reads a group's entry points once per process; tests that add some reset that."""
    monkeypatch.setattr(ExtensionManager, "ENTRY_POINT_CACHE", {})


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Callable[..., Path]:
    """Write a distribution into a directory that can go on PYTHONPATH (or sys.path).

    ``make(dist, modules={"pkg/__init__.py": source}, queuetypes={"name": "pkg:Class"})``
    creates the modules and ``<dist>-<version>.dist-info`` with METADATA and
    entry_points.txt, exactly what pip leaves behind, and returns the directory.
    """

    def make(
        dist: str,
        modules: dict[str, str],
        queuetypes: dict[str, str],
        version: str = "1.0",
        root: Path | None = None,
    ) -> Path:
        root = root or tmp_path / f"site-{dist}"
        for rel, source in modules.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in queuetypes.items())
        (info / "entry_points.txt").write_text(f"[hippo.queuetypes]\n{lines}")
        return root

    return make


# -- `hippo api` in a subprocess ----------------------------------------------------------


@dataclass
class ApiProcess:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def _hippo_command() -> list[str]:
    script = Path(sys.executable).with_name("hippo")
    if script.exists():
        return [str(script)]
    found = shutil.which("hippo")
    return [found] if found else [sys.executable, "-m", "hippo_core.cli"]


def _wait_until_up(api: ApiProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if api.process.poll() is not None:
            raise RuntimeError(f"hippo api exited with {api.process.returncode}:\n{api.log()}")
        try:
            if requests.get(f"{api.url}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"hippo api did not answer within {timeout}s:\n{api.log()}")
        time.sleep(0.1)


class ApiStarter:
    """Starts ``hippo api --port <free>`` processes and stops whatever is left at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[ApiProcess] = []

    def start(
        self, redis_url: str, pythonpath: list[Path] | None = None, env: dict[str, str] | None = None
    ) -> ApiProcess:
        port = free_port()
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
        child_env.update(HIPPO_REDIS_URL=redis_url, HIPPO_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
        if pythonpath:
            child_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
        else:
            child_env.pop("PYTHONPATH", None)
        child_env.update(env or {})
        log_path = self.log_dir / f"hippo-api-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*_hippo_command(), "api", "--host", "127.0.0.1", "--port", str(port)],
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        api = ApiProcess(process, f"http://127.0.0.1:{port}", log_path)
        self.started.append(api)
        try:
            _wait_until_up(api)
        except Exception:
            api.stop()
            raise
        return api

    def stop_all(self) -> None:
        for api in self.started:
            api.stop()


@pytest.fixture(scope="session")
def api_starter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStarter]:
    starter = ApiStarter(tmp_path_factory.mktemp("hippo-api"))
    try:
        yield starter
    finally:
        starter.stop_all()


@pytest.fixture
def hippo_api(redis_url: str, api_starter: ApiStarter) -> Iterator[Callable[..., ApiProcess]]:
    """Start ``hippo api`` on the test's Redis; stopped at the end of the test.

    ``start(pythonpath=[dirs], env={...})``: extra PYTHONPATH entries (e.g. a plugin
    distribution) and environment variables.
    """
    started: list[ApiProcess] = []

    def start(pythonpath: list[Path] | None = None, env: dict[str, str] | None = None) -> ApiProcess:
        api = api_starter.start(redis_url, pythonpath, env)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
