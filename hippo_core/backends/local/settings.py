"""The ``[local]`` table: what this machine offers when it is Hippo's one agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hippo_core.settings import Settings, setting

DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LocalSettings(Settings):
    table: ClassVar[str] = "local"

    cpus: float | None = setting(
        None, "CPUs the local backend offers (default: this machine's count).", minimum=0
    )
    mem: float | None = setting(
        None, "Memory in MB the local backend offers (default: this machine's).", minimum=0
    )
    max_output_bytes: int = setting(
        DEFAULT_MAX_OUTPUT_BYTES,
        "Bytes kept of each output stream (stdout, stderr) of an attempt; the rest is dropped, "
        "with a line saying so.",
        minimum=1024,
    )
