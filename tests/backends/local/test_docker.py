"""The ``docker create`` command line for a task and its env file, table-driven (no engine needed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hippo_core.backend import TaskLaunch
from hippo_core.backends.local.docker import DockerCreate, docker_create, engine_answers, parameter_errors

ENV_FILE = Path("/data/tasks/fam.1/docker.env")
INSTANCE = "hippo-0123456789ab"
BASE = [
    "docker",
    "create",
    "--name",
    "fam.1",
    "--label",
    "hippo.attempt=fam.1",
    "--label",
    f"hippo.instance={INSTANCE}",
    "--label",
    "hippo.task=fam.1",
    "--log-driver",
    "none",
]


def launch(
    container: dict,
    env: dict[str, str] | None = None,
    cpus: float = 0.5,
    mem: float = 256,
    cmd: str = "echo $HIPPO_DATA",
) -> TaskLaunch:
    return TaskLaunch(
        "fam.1", "hippo:fam", "local-h", cpus, mem, cmd, env or {}, container, labels={"hippo.task": "fam.1"}
    )


CASES = [
    pytest.param(
        launch({"docker": {"image": "busybox:1.36"}}),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "--network",
            "bridge",
            "--entrypoint",
            "/bin/sh",
            "busybox:1.36",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="the image, its limits and the command in a shell; bridge network by default",
    ),
    pytest.param(
        launch(
            {"docker": {"image": "alpine", "network": "HOST", "force_pull_image": True}}, cpus=2, mem=1024.5
        ),
        [
            *BASE,
            "--cpus",
            "2",
            "--memory",
            "1024.5m",
            "--network",
            "host",
            "--pull",
            "always",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="host network, forced pull, whole and fractional numbers as written",
    ),
    pytest.param(
        launch(
            {
                "docker": {"image": "alpine", "network": "NONE"},
                "volumes": [
                    {"hostPath": "/srv/in", "containerPath": "/in", "mode": "RO"},
                    {"hostPath": "/srv/out", "containerPath": "/out", "mode": "RW"},
                ],
            }
        ),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "-v",
            "/srv/in:/in:ro",
            "-v",
            "/srv/out:/out:rw",
            "--network",
            "none",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="volumes with their modes; no network",
    ),
    pytest.param(
        launch(
            {
                "docker": {
                    "image": "alpine",
                    "network": "USER",
                    "network_name": "jobs-net",
                    "parameters": [{"key": "privileged", "value": "true"}, {"key": "--init", "value": ""}],
                }
            }
        ),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "--network",
            "jobs-net",
            "--privileged=true",
            "--init",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="USER joins network_name; parameters as --key=value (booleans too), a bare flag when empty",
    ),
    pytest.param(
        launch(
            {
                "docker": {"image": "alpine", "forcePullImage": True, "network": "USER", "networkName": "n1"},
                "volumes": [
                    {"host_path": "/a", "container_path": "/b", "mode": "RO"},
                    {"containerPath": "/scratch", "mode": "RW"},
                ],
            }
        ),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "-v",
            "/a:/b:ro",
            "-v",
            "/scratch",
            "--network",
            "n1",
            "--pull",
            "always",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="Marathon's camelCase and snake_case alike; a volume without hostPath is an anonymous one",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine"}}, env={"TOKEN": "s3cret", "HIPPO_DATA": "a b"}),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "--env-file",
            str(ENV_FILE),
            "--network",
            "bridge",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="the environment in an env file: values stay out of the process list",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine"}}, env={"TOKEN": "s3cret", "PEM": "a\nb", "Q": '"x"'}),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "--env-file",
            str(ENV_FILE),
            "-e",
            "PEM",
            "-e",
            "Q",
            "--network",
            "bridge",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="variables the env file cannot carry are passed by name only, after it",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine"}}, env={"PEM": "a\nb"}),
        [
            *BASE,
            "--cpus",
            "0.5",
            "--memory",
            "256m",
            "-e",
            "PEM",
            "--network",
            "bridge",
            "--entrypoint",
            "/bin/sh",
            "alpine",
            "-c",
            "echo $HIPPO_DATA",
        ],
        id="no env file when nothing goes in it",
    ),
]


@pytest.mark.parametrize(("task", "argv"), CASES)
def test_docker_run_argv(task, argv):
    assert docker_create(task, ENV_FILE, INSTANCE).argv == argv


BIG = "x" * (64 * 1024 - len("BIG=\n"))

ENV_CASES = [
    pytest.param(
        {
            "B": "2",
            "A": "one two",
            "EMPTY": "",
            "EQ": "k=v",
            "PATH": "/task/bin",
            "DOCKER_HOST": "tcp://elsewhere:2375",
            "MID": "a'b\"c",
            "ONE": "'",
            "UNI": "h\u00e9",
        },
        "A=one two\nB=2\nDOCKER_HOST=tcp://elsewhere:2375\nEMPTY=\nEQ=k=v\nMID=a'b\"c\nONE='\n"
        "PATH=/task/bin\nUNI=h\u00e9\n",
        {},
        id="plain values, spaces, '=', lone or inner quotes, UTF-8, and PATH or DOCKER_HOST, "
        "in the file sorted",
    ),
    pytest.param(
        {
            "PEM": "-----BEGIN-----\nabc\n",
            "CR": "a\rb",
            "DQ": '"quoted"',
            "SQ": "'quoted'",
            "A B": "1",
            "#X": "2",
            "SUR": "\udcff",
        },
        "",
        {
            "PEM": "-----BEGIN-----\nabc\n",
            "CR": "a\rb",
            "DQ": '"quoted"',
            "SQ": "'quoted'",
            "A B": "1",
            "#X": "2",
            "SUR": "\udcff",
        },
        id="line breaks, surrounding quotes, names docker would misread, values UTF-8 cannot write: "
        "by name, in the client's environment",
    ),
    pytest.param(
        {"BIG": BIG, "BIGGER": BIG + "xx"},
        f"BIG={BIG}\n",
        {"BIGGER": BIG + "xx"},
        id="a line of 64 KiB with its newline fits docker's reader; a longer one does not",
    ),
]


@pytest.mark.parametrize(("env", "text", "client_vars"), ENV_CASES)
def test_env_goes_in_the_file_unless_the_file_cannot_carry_it(env, text, client_vars):
    run = docker_create(launch({"docker": {"image": "alpine"}}, env=env), ENV_FILE, INSTANCE)
    assert run.env_file_text == text
    assert run.client_vars == client_vars
    assert run.env_file == (ENV_FILE if text else None)
    assert not [arg for arg in run.argv for name in env if f"{name}=" in arg]  # no value in the argv


def test_env_file_is_written_for_this_user_only_and_removed(tmp_path):
    path = tmp_path / "docker.env"
    path.write_text("stale\n")
    path.chmod(0o644)  # left by an earlier run of the attempt: its mode must not survive
    run = docker_create(
        launch({"docker": {"image": "alpine"}}, env={"TOKEN": "s3cret", "A": "1"}), path, INSTANCE
    )
    old_umask = os.umask(0)
    try:
        run.write_env_file()
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"A=1\nTOKEN=s3cret\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    run.remove_env_file()
    assert not path.exists()
    run.remove_env_file()  # already gone: nothing to do


def test_env_file_is_not_written_through_a_symlink(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    link = tmp_path / "docker.env"
    link.symlink_to(target)
    run = docker_create(launch({"docker": {"image": "alpine"}}, env={"TOKEN": "s3cret"}), link, INSTANCE)
    with pytest.raises(OSError):
        run.write_env_file()
    assert target.read_text() == "keep\n"


def test_the_client_keeps_hippos_own_environment():
    run = docker_create(
        launch(
            {"docker": {"image": "alpine"}},
            env={
                "PATH": "/task/bin",
                "DOCKER_HOST": "tcp://elsewhere:2375",
                "DOCKER_CONFIG": "/task/cfg",
                "TOKEN": "s3cret",
                "PEM": "a\nb",
            },
        ),
        ENV_FILE,
        INSTANCE,
    )
    own = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///run/own.sock", "HOME": "/home/hippo"}
    assert run.client_env(own) == {**own, "PEM": "a\nb"}


@pytest.mark.parametrize(
    ("env", "error"),
    [
        pytest.param(
            {"PATH": "/a\n/b"},
            r"PATH cannot be passed to docker: its value has a line break",
            id="PATH with a line break would reach the client",
        ),
        pytest.param(
            {"docker_host": "'tcp://x:2375'"},
            r"docker_host .*same quote.*client itself reads",
            id="DOCKER_* in any case, quoted",
        ),
        pytest.param({"LD_PRELOAD": "a\nb"}, r"LD_PRELOAD", id="the C library's variables"),
        pytest.param({"https_proxy": '"http://p"'}, r"https_proxy", id="proxies in lower case"),
        pytest.param({"A=B": "1"}, r"'A=B' is not an environment variable name", id="'=' in a name"),
        pytest.param({"": "1"}, r"'' is not an environment variable name", id="an empty name"),
        pytest.param({"T": "a\0b"}, r"T has a NUL in its value", id="a NUL in a value"),
    ],
)
def test_variables_no_way_can_carry_are_refused_with_the_reason(env, error):
    with pytest.raises(ValueError, match=error):
        docker_create(launch({"docker": {"image": "alpine"}}, env=env), ENV_FILE, INSTANCE)


def test_a_run_without_variables_has_no_env_file(tmp_path):
    run = docker_create(launch({"docker": {"image": "alpine"}}), tmp_path / "docker.env", INSTANCE)
    assert run == DockerCreate(run.argv, "fam.1")
    run.write_env_file()
    assert not (tmp_path / "docker.env").exists()


@pytest.mark.parametrize(
    ("container", "error"),
    [
        ({"docker": {}}, r"no container\.docker\.image"),  # nothing to run
        ({"docker": {"image": "alpine", "network": "USER"}}, r"USER needs container\.docker\.network_name"),
        ({"docker": {"image": "alpine", "network": "OVERLAY"}}, r"'OVERLAY' is not one of"),
    ],
)
def test_containers_docker_cannot_run_are_refused_with_the_reason(container, error):
    with pytest.raises(ValueError, match=error):
        docker_create(launch(container), ENV_FILE, INSTANCE)


def test_no_engine_is_reported_as_absent(tmp_path, monkeypatch):
    # A client that reaches no engine, and no client at all.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert engine_answers(timeout=20) is False
    assert engine_answers(docker="no-such-docker-client") is False


@pytest.mark.parametrize(
    ("parameters", "problems"),
    [
        pytest.param(
            [{"key": "memory-swap", "value": "1g"}, {"key": "init", "value": ""}], [], id="ordinary options"
        ),
        pytest.param(
            [
                {"key": "rm", "value": ""},
                {"key": "--name", "value": "x"},
                {"key": "restart", "value": "always"},
            ],
            [0, 1, 2],
            id="options Hippo sets itself: the exit status must outlive the container's end",
        ),
        pytest.param(
            [{"key": "label", "value": "team=a"}, {"key": "label", "value": "hippo.instance=other"}],
            [1],
            id="labels are free, except Hippo's own",
        ),
    ],
)
def test_parameters_that_take_the_container_out_of_hippos_hands_are_refused(parameters, problems):
    assert [index for index, _ in parameter_errors(parameters)] == problems
