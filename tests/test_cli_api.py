"""``hippo api``: the command, and the API over a real waitress socket."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hippo_core.cli import build_parser
from hippo_core.ports import free_port

# The reference queue type, installed the way a third party installs one.
MEMORY_ENTRY_POINT = {"memory": "hippo_core.testing.memory_queue:MemoryQueueType"}
BODY_LIMIT = 4096


def _hippo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hippo_core.cli", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_help_explains_the_commands() -> None:
    result = _hippo("--help")
    assert result.returncode == 0
    assert "api" in result.stdout and "serve the REST API" in result.stdout
    api_help = _hippo("api", "--help").stdout
    for option in ("--host", "--port", "HIPPO_PORT", "waitress"):
        assert option in api_help


def test_no_command_prints_help_and_fails() -> None:
    result = _hippo()
    assert result.returncode == 2
    assert "usage: hippo" in result.stdout


def test_api_command_parses_host_and_port() -> None:
    parser, commands = build_parser()
    args = parser.parse_args(["api", "--host", "0.0.0.0", "--port", "9001"])
    assert (args.command, args.host, args.port) == ("api", "0.0.0.0", 9001)
    assert "api" in commands


def test_a_bad_setting_stops_hippo_api_with_a_clear_message(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HIPPO_CONFIG": str(tmp_path / "missing.toml")}
    result = _hippo("api", "--port", "1", env=env)
    assert result.returncode == 2
    assert "missing.toml does not exist" in result.stderr
    result = _hippo("api", env={"PATH": "/usr/bin:/bin", "HIPPO_MAX_BODY_BYTES": "lots"})
    assert result.returncode == 2
    assert "HIPPO_MAX_BODY_BYTES" in result.stderr


# -- over a real socket -------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(redis_server: Any, api_starter: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One `hippo api` for the module, with the memory type installed and a small body limit.

    Its keys carry a prefix of their own, so it shares the session's Redis with other tests.
    """
    root = tmp_path_factory.mktemp("memory-plugin")
    info = root / "hippo_memory_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hippo-memory-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[hippo.queuetypes]\n" + "".join(f"{k} = {v}\n" for k, v in MEMORY_ENTRY_POINT.items())
    )
    process = api_starter.start(
        redis_server.url,
        pythonpath=[root],
        env={"HIPPO_KEY_PREFIX": f"cli-{uuid.uuid4().hex}", "HIPPO_MAX_BODY_BYTES": str(BODY_LIMIT)},
    )
    yield process
    process.stop()


def test_a_queue_created_over_http_comes_back_with_defaults_and_secret_masked(
    api, queue_body, secrets_sent
) -> None:
    created = requests.post(f"{api.url}/queues/", json=queue_body(), timeout=10)
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location.endswith(f"/queues/{created.json()['id']}/")
    read = requests.get(f"{api.url}/queues/{created.json()['id']}", timeout=10)
    assert read.status_code == 200
    queue = read.json()
    assert queue["container"]["docker"]["network"] == "BRIDGE"
    assert (queue["task_retries"], queue["system_retries"]) == (0, 2)
    assert queue["queue"]["max_concurrent"] == 10000
    assert queue["queue"]["memory"]["token"] == "********"
    assert queue["queue"]["memory"]["url"] == "memory://app:********@broker/jobs"
    for secret in secrets_sent:
        assert secret not in created.text + read.text
        assert secret not in api.log()


def test_a_bad_body_gets_a_400_naming_the_field(api, queue_body, error_of) -> None:
    resp = requests.post(f"{api.url}/queues", json=queue_body(task_retry=2), timeout=10)
    errors = error_of(resp, 400)["errors"]
    assert errors == [{"path": "$.task_retry", "message": "unknown field; did you mean 'task_retries'?"}]


def test_errors_over_http(api, error_of) -> None:
    error_of(requests.get(f"{api.url}/nope", timeout=10), 404)
    resp = requests.delete(f"{api.url}/queues/", timeout=10)
    error_of(resp, 405)
    assert set(resp.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST", "PUT", "OPTIONS"}
    error_of(requests.post(f"{api.url}/tasks/", data="cmd=x", timeout=10), 415)
    error_of(
        requests.post(
            f"{api.url}/tasks/", data=b"{nope", timeout=10, headers={"Content-Type": "application/json"}
        ),
        400,
    )


def _chunks(total: int, size: int = 1000) -> Iterator[bytes]:
    """A JSON task body streamed in chunks (requests then sends it chunked, without a length)."""
    head = b'{"cmd": "true", "container": {"docker": {"image": "busybox"}}, "data": "'
    tail = b'"}'
    padding = total - len(head) - len(tail)
    yield head
    while padding > 0:
        yield b"x" * min(size, padding)
        padding -= size
    yield tail


@pytest.mark.parametrize(
    ("size", "status"), [(BODY_LIMIT, 201), (BODY_LIMIT + 1, 413), (BODY_LIMIT * 50, 413)]
)
def test_chunked_bodies_are_held_to_the_limit(api, error_of, size, status) -> None:
    resp = requests.post(
        f"{api.url}/tasks/", data=_chunks(size), timeout=30, headers={"Content-Type": "application/json"}
    )
    if status == 413 and size <= BODY_LIMIT + 1024:
        assert str(BODY_LIMIT) in error_of(resp, 413)["description"]
    elif status == 413:
        # Far over the limit, waitress itself refuses the body as it arrives.
        assert resp.status_code == 413
    else:
        assert resp.status_code == status, resp.text
        assert requests.get(f"{api.url}/tasks/{resp.json()['mesos_id']}/", timeout=10).status_code == 200


def test_every_route_answers_with_and_without_the_slash(api) -> None:
    for path in ("queues", "queuetypes", "tasks", "healthz", "readyz"):
        for slash in ("", "/"):
            assert requests.get(f"{api.url}/{path}{slash}", timeout=10).status_code == 200, path + slash
    assert requests.get(f"{api.url}/openapi.json", timeout=10).json()["openapi"].startswith("3.1")
    listed = requests.get(f"{api.url}/queuetypes/", timeout=10).json()["items"]
    assert {"name": "memory", "distribution": "hippo-memory-plugin", "available": True}.items() <= next(
        qt for qt in listed if qt["name"] == "memory"
    ).items()


def test_readyz_is_503_when_redis_is_unreachable(hippo_api, error_of) -> None:
    api = hippo_api(env={"HIPPO_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert requests.get(f"{api.url}/healthz", timeout=30).status_code == 200
    error_of(requests.get(f"{api.url}/readyz", timeout=30), 503)
