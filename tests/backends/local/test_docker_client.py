"""The local backend in Docker mode, up to the ``docker`` client: what it is started with.

``docker`` here is a small program put first on Hippo's ``PATH`` that records what
``docker create`` is given (its argv, its environment, the env file it is pointed at
and that file's mode), answers ``inspect`` with a container that exited 0, and
exits 0 for the rest. What an engine does with it is tested against a real one
(``tests/docker``).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

RECORDING_CLIENT = """#!{python}
import json, os, sys
argv = sys.argv[1:]
if argv[0] == "inspect":
    print(json.dumps({{"Running": False, "ExitCode": 0, "OOMKilled": False, "Error": ""}}))
if argv[0] != "create":
    sys.exit(0)
record = {{"argv": argv, "env": dict(os.environ)}}
if "--env-file" in argv:
    path = argv[argv.index("--env-file") + 1]
    record["env_file"] = open(path, encoding="utf-8").read()
    record["env_file_mode"] = os.stat(path).st_mode
with open("client.json", "w") as fh:
    json.dump(record, fh)
"""

HIPPO_PATH_DIR = "hippo-bin"
HIPPO_DOCKER_HOST = "unix:///run/hippo-own-docker.sock"


@pytest.fixture
def docker_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hippo's own environment: the recording ``docker`` first on PATH, and a DOCKER_HOST."""
    bin_dir = tmp_path / HIPPO_PATH_DIR
    bin_dir.mkdir()
    client = bin_dir / "docker"
    client.write_text(RECORDING_CLIENT.format(python=sys.executable))
    client.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("DOCKER_HOST", HIPPO_DOCKER_HOST)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return bin_dir


def test_the_task_env_reaches_docker_through_a_private_file_not_its_environment(
    docker_client, start_backend, recorder, make_launch, tmp_path
):
    start_backend(docker=True)
    env = {
        "PATH": "/task/bin",
        "DOCKER_HOST": "tcp://elsewhere:2375",
        "DOCKER_CONFIG": "/task/cfg",
        "TOKEN": "s3cret",
        "PEM": "-----BEGIN-----\nabc",
    }
    recorder.launch_on_next_offer(make_launch("t.env", "true", env=env))
    status = recorder.wait_terminal("t.env")
    assert status.state == "TASK_FINISHED", status

    sandbox = tmp_path / "data" / "tasks" / "t.env"
    record = json.loads((sandbox / "client.json").read_text())
    client_env, argv = record["env"], record["argv"]
    # The client ran, found on Hippo's PATH, with Hippo's PATH and DOCKER_HOST: not the task's.
    assert client_env["PATH"].startswith(str(docker_client))
    assert client_env["DOCKER_HOST"] == HIPPO_DOCKER_HOST
    assert "DOCKER_CONFIG" not in client_env
    assert "TOKEN" not in client_env and "HIPPO_TASK_ID" not in client_env
    assert argv[argv.index("--env-file") + 1] == str(sandbox / "docker.env")
    assert record["env_file"] == (
        "DOCKER_CONFIG=/task/cfg\nDOCKER_HOST=tcp://elsewhere:2375\n"
        "HIPPO_TASK_ID=t.env\nPATH=/task/bin\nTOKEN=s3cret\n"
    )
    assert stat.S_IMODE(record["env_file_mode"]) == 0o600
    # The one value with a line break goes by name, its value in the client's environment.
    assert argv[argv.index("-e") + 1] == "PEM" and argv.count("-e") == 1
    assert client_env["PEM"] == env["PEM"]
    assert not [arg for arg in argv if "s3cret" in arg]
    # Once the client has ended, the values are no longer on disk.
    assert not (sandbox / "docker.env").exists()


def test_a_variable_the_client_would_read_is_refused_before_anything_runs(
    docker_client, start_backend, recorder, make_launch, tmp_path
):
    start_backend(docker=True)
    recorder.launch_on_next_offer(
        make_launch("t.refused", "true", env={"DOCKER_HOST": "'tcp://x:2375'", "TOKEN": "s3cret"})
    )
    status = recorder.wait_terminal("t.refused")
    assert (status.state, status.reason) == ("TASK_ERROR", "REASON_CONTAINER_LAUNCH_FAILED")
    assert "DOCKER_HOST cannot be passed to docker" in status.message
    assert "TASK_STARTING" not in recorder.states("t.refused")
    sandbox = tmp_path / "data" / "tasks" / "t.refused"
    assert not (sandbox / "client.json").exists()
    assert not (sandbox / "docker.env").exists()
