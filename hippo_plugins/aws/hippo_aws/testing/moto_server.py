"""A private ``moto_server`` (AWS service emulator) on a free port, for plugin tests.

The SQS and S3 queue types are tested through boto3 with ``endpoint_url`` set to
:attr:`MotoServer.url`, so every request crosses a real HTTP connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests

from hippo_core.ports import free_port
from hippo_core.testing.processes import stop_process


def find_moto_server() -> str:
    """Path of a ``moto_server`` binary, or an error saying how to get one."""
    path = shutil.which("moto_server")
    if path is None:
        # A virtualenv used without activating it keeps its scripts beside the interpreter.
        beside = Path(sys.executable).parent / "moto_server"
        if beside.exists():
            path = str(beside)
    if path is None:
        raise FileNotFoundError("moto_server is not on PATH; install it with: pip install 'moto[server]'")
    return path


class MotoServer:
    """A ``moto_server`` child process bound to 127.0.0.1 on a free port.

    Its state (queues, buckets, IAM users) lives in memory and ends with the process.
    ``env`` adds environment variables for the server (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).
    """

    def __init__(self, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        binary = find_moto_server()
        self._tmp = tempfile.TemporaryDirectory(prefix="hippo-moto-")
        self.log_path = Path(self._tmp.name) / "moto_server.log"
        # The server logs every request; a file (not a pipe) cannot fill up and stall it.
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [binary, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                detail = self.log_path.read_text(errors="replace").strip()[-2000:]
                self.stop()
                raise RuntimeError(f"moto_server exited at start: {detail}")
            try:
                requests.get(f"{self.url}/moto-api/data.json", timeout=1)
                break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"moto_server did not answer on port {self.port}")
            time.sleep(0.05)
        return self

    def reset(self) -> None:
        """Forget every resource the server holds."""
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def create_admin_credentials(self, user_name: str) -> tuple[str, str]:
        """An access key pair of a new IAM user allowed everything: ``(key id, secret)``.

        Call it before :meth:`enforce_auth`; afterwards only such keys are accepted.
        """
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.create_user(UserName=user_name)
        iam.put_user_policy(UserName=user_name, PolicyName="everything", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
        iam.close()
        return key["AccessKeyId"], key["SecretAccessKey"]

    def enforce_auth(self, enabled: bool = True) -> None:
        """Make the server check credentials and IAM policies on every request (or stop).

        With it on, only access keys created through the server's IAM are accepted,
        and only for the actions their policies allow.
        """
        count = "0" if enabled else "inf"
        requests.post(f"{self.url}/moto-api/reset-auth", data=count, timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
