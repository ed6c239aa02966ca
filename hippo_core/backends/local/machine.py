"""What this machine offers: its name, CPU count and memory."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def hostname() -> str:
    return socket.gethostname() or "localhost"


def agent_id(host: str | None = None) -> str:
    return f"local-{host or hostname()}"


def cpu_count() -> float:
    return float(os.cpu_count() or 1)


def memory_mb(meminfo: str | os.PathLike[str] = "/proc/meminfo") -> float:
    """Total memory in MB: ``MemTotal`` of /proc/meminfo, else the page count (macOS, BSD)."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass  # not Linux, or an unexpected format: ask sysconf instead
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError) as exc:
        raise RuntimeError(
            "cannot tell this machine's memory; set HIPPO_LOCAL_MEM (MB) for the local backend"
        ) from exc
