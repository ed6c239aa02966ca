"""Hippo's settings: defaults, then a TOML config file, then ``HIPPO_*`` environment variables.

Every setting is declared once below with its environment variable and meaning;
``hippo config`` prints them all with their current values (secrets masked).
The config file is the one named by ``--config`` or ``HIPPO_CONFIG``; its keys are the
field names below, e.g. ``redis_url = "redis://redis:6379/0"``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hippo_core.secrets import mask_url_password


def _setting(default: Any, env: str, help: str) -> Any:
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Config:
    redis_url: str | None = _setting(
        None,
        "HIPPO_REDIS_URL",
        "Redis holding all of Hippo's state. `hippo api` and `hippo worker` default to "
        "redis://localhost:6379/0; `hippo up` starts its own Redis when this is unset.",
    )
    key_prefix: str = _setting("hippo", "HIPPO_KEY_PREFIX", "Prefix of every Redis key Hippo writes.")
    max_body_bytes: int = _setting(
        1024 * 1024, "HIPPO_MAX_BODY_BYTES", "Largest request body the API accepts (413 beyond)."
    )
    host: str = _setting("127.0.0.1", "HIPPO_HOST", "Address the API listens on.")
    port: int = _setting(8080, "HIPPO_PORT", "Port the API listens on.")
    api_threads: int = _setting(8, "HIPPO_API_THREADS", "waitress worker threads of the API.")
    backend: str = _setting(
        "mesos", "HIPPO_BACKEND", "Where tasks run: `mesos`, `local`, or a `hippo.backends` plugin."
    )
    mesos_master: str = _setting(
        "http://localhost:5050",
        "HIPPO_MESOS_MASTER",
        "Mesos master URL(s), comma-separated; tried in turn, redirects to the leader followed.",
    )
    mesos_framework_name: str = _setting("hippo", "HIPPO_MESOS_FRAMEWORK_NAME", "Framework name.")
    mesos_user: str = _setting("root", "HIPPO_MESOS_USER", "User tasks run as on the agents.")
    mesos_role: str = _setting("*", "HIPPO_MESOS_ROLE", "Role whose resources Hippo is offered.")
    mesos_principal: str | None = _setting(
        None, "HIPPO_MESOS_PRINCIPAL", "Principal for HTTP basic authentication to the master."
    )
    mesos_secret: str | None = _setting(
        None, "HIPPO_MESOS_SECRET", "Secret for HTTP basic authentication to the master."
    )
    mesos_failover_timeout: float = _setting(
        604800.0,
        "HIPPO_MESOS_FAILOVER_TIMEOUT",
        "Seconds Mesos keeps Hippo's tasks running while no worker is subscribed.",
    )
    refuse_seconds: float = _setting(
        5.0, "HIPPO_REFUSE_SECONDS", "How long a declined offer's resources are not re-offered."
    )
    unreachable_timeout: float = _setting(
        900.0,
        "HIPPO_UNREACHABLE_TIMEOUT",
        "Seconds a task may stay TASK_UNREACHABLE before Hippo gives up on it (system retry).",
    )
    leader_lease_seconds: float = _setting(
        10.0,
        "HIPPO_LEADER_LEASE_SECONDS",
        "Lease of the leading worker; a standby takes over this long after the leader stops renewing.",
    )
    poller_threads: int = _setting(
        8, "HIPPO_POLLER_THREADS", "Queues polled in parallel, so one slow source delays no other."
    )
    local_cpus: float | None = _setting(
        None, "HIPPO_LOCAL_CPUS", "CPUs the local backend offers (default: this machine's count)."
    )
    local_mem: float | None = _setting(
        None, "HIPPO_LOCAL_MEM", "Memory in MB the local backend offers (default: this machine's)."
    )
    data_dir: str = _setting(
        str(Path.home() / ".hippo"),
        "HIPPO_DATA_DIR",
        "Where `hippo up` keeps its Redis data and the local backend its task logs.",
    )
    log_level: str = _setting("INFO", "HIPPO_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR.")

    @property
    def mesos_masters(self) -> list[str]:
        return [m.strip() for m in self.mesos_master.split(",") if m.strip()]

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with the given settings changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def describe(self) -> list[tuple[str, str, str, str]]:
        """(name, env var, current value, help) for every setting, secrets masked."""
        rows = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "mesos_secret" and value:
                value = "********"
            elif isinstance(value, str):
                value = mask_url_password(value)
            rows.append((f.name, f.metadata["env"], repr(value), f.metadata["help"]))
        return rows


def _kind(f: dataclasses.Field) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _coerce(f: dataclasses.Field, raw: Any, origin: str) -> Any:
    """``raw`` (a TOML value or an environment string) as the type of setting ``f``."""
    kind = _kind(f)
    if raw is None or (raw == "" and "None" in kind):
        return None
    # TOML booleans are ints to Python; no setting is a boolean, so one is always a mistake.
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ValueError(f"{origin}: {f.name} cannot be {raw!r}")
    try:
        if kind.startswith("int"):
            number = float(raw) if isinstance(raw, float) else int(raw)
            if number != int(number):
                raise ValueError("not a whole number")
            return int(number)
        if kind.startswith("float"):
            return float(raw)
    except (TypeError, ValueError) as exc:
        expected = "a whole number" if kind.startswith("int") else "a number"
        raise ValueError(f"{origin}: expected {expected} for {f.name}, got {raw!r}") from exc
    if not isinstance(raw, str):
        raise ValueError(f"{origin}: expected a string for {f.name}, got {raw!r}")
    return raw


# (lowest, highest) of numeric settings; None means unbounded on that side.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "max_body_bytes": (1, None),
    "port": (0, 65535),
    "api_threads": (1, None),
    "poller_threads": (1, None),
    "mesos_failover_timeout": (0, None),
    "refuse_seconds": (0, None),
    "unreachable_timeout": (0, None),
    "leader_lease_seconds": (0.1, None),
    "local_cpus": (0, None),
    "local_mem": (0, None),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _check(config: Config) -> None:
    problems = []
    for name, (low, high) in RANGES.items():
        value = getattr(config, name, None)
        if value is None:
            continue
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            problems.append(f"{name} must be {bounds}, got {value}")
    if config.log_level.upper() not in LOG_LEVELS:
        problems.append(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {config.log_level!r}")
    if problems:
        raise ValueError("invalid settings: " + "; ".join(problems))


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Settings from defaults, the config file (``path`` or ``$HIPPO_CONFIG``), then env."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(Config)}
    path = path or env.get("HIPPO_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ValueError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {path} is not valid TOML: {exc}") from exc
        unknown = sorted(set(data) - set(fields))
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(fields), n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            raise ValueError(
                f"config file {path}: unknown setting(s) {', '.join(hints)}; known: {', '.join(fields)}"
            )
        for name, raw in data.items():
            values[name] = _coerce(fields[name], raw, f"config file {path}")
    for name, f in fields.items():
        var = f.metadata["env"]
        if var in env:
            values[name] = _coerce(f, env[var], f"environment variable {var}")
    config = Config(**values)
    _check(config)
    return config
