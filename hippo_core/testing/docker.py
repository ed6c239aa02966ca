"""A private Docker engine for tests: its own ``dockerd``, and a ``busybox`` image made offline.

:class:`DockerEngine` starts ``dockerd`` with its own data root, exec root, socket and
pid file in a short temporary directory (a unix socket path must stay under ~100
bytes), on a Linux bridge of its own with a private subnet (two engines started by
test runs at the same time do not share ``docker0``), without iptables rules (tests
make no connections off the machine). It then imports ``busybox:latest`` from the
``busybox-static`` binary, since no image registry may be reachable, and is stopped by
its pid afterwards.

Needs root (``dockerd`` does), ``dockerd`` and ``docker`` on PATH (Debian:
``docker.io``) and a static ``busybox`` (Debian: ``busybox-static``). What is missing
raises :class:`EngineUnavailable` with the reason; the ``docker_engine`` fixture
skips on it (fails under ``HIPPO_TEST_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from hippo_core.testing.processes import stop_process

IMAGE = "busybox:latest"
START_SECONDS = 60.0
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")


class EngineUnavailable(RuntimeError):
    """No private Docker engine can be started here; the message says why."""


class DockerEngine:
    def __init__(self) -> None:
        self.dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.bridge: str | None = None
        self.started_in: float | None = None

    @property
    def socket(self) -> Path:
        assert self.dir is not None
        return self.dir / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` of this engine."""
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "dockerd.log"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose ``docker`` talks to this engine."""
        env = dict(os.environ if base is None else base)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        return env

    def client(
        self, *args: str, timeout: float = 60.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker <args>`` against this engine."""
        return subprocess.run(
            ["docker", *args],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def containers(self, *filters: str) -> list[str]:
        """Names of the containers (running or not) matching ``label=...`` style filters."""
        argv = ["ps", "--all", "--format", "{{.Names}}"]
        for item in filters:
            argv += ["--filter", item]
        return [line for line in self.client(*argv).stdout.splitlines() if line]

    def volumes(self) -> list[str]:
        return [line for line in self.client("volume", "ls", "--quiet").stdout.splitlines() if line]

    def start(self) -> DockerEngine:
        missing = [tool for tool in ("dockerd", "docker", "containerd") if shutil.which(tool) is None]
        if missing:
            raise EngineUnavailable(f"{', '.join(missing)} not installed (Debian: apt-get install docker.io)")
        busybox = next((p for p in BUSYBOX_PATHS if _static(p)), None)
        if busybox is None:
            raise EngineUnavailable("no static busybox to build an image from (Debian: busybox-static)")
        if os.geteuid() != 0:
            raise EngineUnavailable("dockerd needs root to run")
        began = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="hd", dir="/tmp"))
        argv = [
            "dockerd",
            "--data-root",
            str(self.dir / "root"),
            "--exec-root",
            str(self.dir / "exec"),
            "-H",
            self.host,
            "--pidfile",
            str(self.dir / "docker.pid"),
            "--iptables=false",
            "--ip-masq=false",
        ]
        bridge = self._make_bridge()
        if bridge is not None:
            argv += ["--bridge", bridge]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
            self._import_busybox(busybox)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def _make_bridge(self) -> str | None:
        """A bridge of this engine's own with a free private /24, or None to use docker0."""
        if shutil.which("ip") is None:
            return None
        used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False).stdout
        for _ in range(20):
            net = ipaddress.ip_network(f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24")
            if str(net.network_address)[:-1] not in used:
                break
        name = f"hd{os.urandom(4).hex()}"
        steps = [
            ["ip", "link", "add", "name", name, "type", "bridge"],
            ["ip", "addr", "add", f"{net.network_address + 1}/24", "dev", name],
            ["ip", "link", "set", name, "up"],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                self._remove_bridge(name)
                raise EngineUnavailable(
                    f"cannot make a bridge for dockerd ({' '.join(step)}): {result.stderr}"
                )
        self.bridge = name
        return name

    def _remove_bridge(self, name: str) -> None:
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited ({self.process.returncode}): {self._log_tail()}")
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                if (
                    self.client(
                        "version", "--format", "{{.Server.Version}}", timeout=5, check=False
                    ).returncode
                    == 0
                ):
                    return
            time.sleep(0.1)
        raise EngineUnavailable(f"dockerd did not answer within {START_SECONDS:g}s: {self._log_tail()}")

    def _import_busybox(self, busybox: str) -> None:
        """``busybox:latest``: the static binary and a link per applet, imported as a root filesystem."""
        assert self.dir is not None
        rootfs = self.dir / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        (rootfs / "tmp").mkdir()
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        applets = subprocess.run(
            [busybox, "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        for applet in applets:
            if applet != "busybox":
                (rootfs / "bin" / applet).symlink_to("busybox")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        result = subprocess.run(
            ["docker", "import", "-", IMAGE],
            stdin=tar.stdout,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        tar.wait()
        if result.returncode != 0:
            raise EngineUnavailable(f"could not import {IMAGE}: {result.stderr.strip()}")
        shutil.rmtree(rootfs)

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop dockerd by its pid (SIGTERM, SIGKILL after 30 s), remove its bridge and files."""
        if self.process is not None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                names = self.containers()
                if names:
                    self.client("rm", "--force", "--volumes", *names, check=False)
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGTERM)
            stop_process(self.process, timeout=30)
            self.process = None
        if self.bridge is not None:
            self._remove_bridge(self.bridge)
            self.bridge = None
        if self.dir is not None:
            # dockerd leaves a mount or two (its network namespace) that would keep the files.
            for mount in sorted(_mounts_under(self.dir), key=len, reverse=True):
                subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _mounts_under(directory: Path) -> list[str]:
    prefix = f"{directory}/"
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [fields[1] for line in lines if len(fields := line.split()) > 1 and fields[1].startswith(prefix)]


def _static(path: str) -> bool:
    """Whether ``path`` is a busybox that needs no shared libraries (it runs in an empty image)."""
    if not os.access(path, os.X_OK):
        return False
    with open(path, "rb") as fh:
        head = fh.read(4096)
    # A dynamically linked ELF names its interpreter (PT_INTERP) near the start.
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head and b"/lib64/ld" not in head
