"""Hippo's settings: defaults, then a TOML config file, then ``HIPPO_*`` environment variables.

The top-level settings are declared below; each concern with settings of its own keeps
them in a TOML table of its own, declared where that concern lives (``[mesos]`` in the
Mesos backend, ``[local]`` in the local backend, ...) and read with
``config.section(TheSettingsClass)``. The config file is the one named by ``--config`` or
``HIPPO_CONFIG``::

    redis_url = "redis://redis:6379/0"
    port = 8080

    [mesos]
    master = "http://mesos-a:5050,http://mesos-b:5050"

``hippo config`` prints every setting with its variable, current value (secrets masked)
and where the value came from. See :mod:`hippo_core.settings` for the rules.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hippo_core.settings import Origin, Row, Settings, read, rows, setting

S = TypeVar("S", bound=Settings)

# Where `hippo api` and `hippo worker` look for Redis when HIPPO_REDIS_URL is unset.
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Config(Settings):
    redis_url: str | None = setting(
        None,
        "Redis holding all of Hippo's state. `hippo api` and `hippo worker` default to "
        f"{DEFAULT_REDIS_URL}; `hippo up` starts its own Redis when this is unset.",
    )
    key_prefix: str = setting("hippo", "Prefix of every Redis key Hippo writes.")
    max_body_bytes: int = setting(
        1024 * 1024, "Largest request body the API accepts (413 beyond).", minimum=1
    )
    host: str = setting("127.0.0.1", "Address the API listens on.")
    port: int = setting(8080, "Port the API listens on.", minimum=0, maximum=65535)
    api_threads: int = setting(8, "waitress worker threads of the API.", minimum=1)
    api_connection_limit: int = setting(
        1000, "Connections the API holds open at once; more wait to be accepted.", minimum=1
    )
    api_channel_timeout: int = setting(
        30, "Seconds an idle connection to the API is kept open.", minimum=1, maximum=3600
    )
    backend: str = setting("mesos", "Where tasks run: `mesos`, `local`, or a `hippo.backends` plugin.")
    refuse_seconds: float = setting(
        5.0, "How long a declined offer's resources are not re-offered.", minimum=0
    )
    unreachable_timeout: float = setting(
        900.0,
        "Seconds a task may stay TASK_UNREACHABLE before Hippo gives up on it (system retry).",
        minimum=0,
    )
    leader_lease_seconds: float = setting(
        10.0,
        "Lease of the leading worker; a standby takes over this long after the leader stops renewing.",
        minimum=0.1,
    )
    poller_threads: int = setting(
        8, "Queues polled in parallel, so one slow source delays no other.", minimum=1
    )
    data_dir: str = setting(
        str(Path.home() / ".hippo"),
        "Where `hippo up` keeps its Redis data and the local backend its task files.",
    )
    log_level: str = setting("INFO", "DEBUG, INFO, WARNING or ERROR.", choices=LOG_LEVELS)

    # Not settings: what the tables are read from, and where each value came from.
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    file: str | None = field(default=None, repr=False, compare=False)
    origins: Mapping[str, Origin] = field(default_factory=dict, repr=False, compare=False)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    _sections: dict[type[Settings], tuple[Settings, dict[str, Origin]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def redis_url_or_default(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    def section(self, cls: type[S]) -> S:
        """The settings of table ``cls.table``, read from the file, environment and overrides."""
        return self._read(cls)[0]  # type: ignore[return-value]

    def _read(self, cls: type[Settings]) -> tuple[Settings, dict[str, Origin]]:
        cached = self._sections.get(cls)
        if cached is None:
            cached = read(
                cls, self.tables.get(cls.table, {}), self.env, self.file, self.overrides.get(cls.table)
            )
            # Frozen, but the cache is not part of the value (compare=False).
            self._sections[cls] = cached
        return cached

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with top-level settings changed (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        origins = {**self.origins, **dict.fromkeys(changes, Origin("override"))}
        return dataclasses.replace(self, **changes, origins=origins, _sections={})

    def with_table(self, table: str, **values: Any) -> Config:
        """A copy with settings of ``[table]`` overridden (``None`` values are ignored)."""
        merged = {**self.overrides.get(table, {}), **{k: v for k, v in values.items() if v is not None}}
        return dataclasses.replace(self, overrides={**self.overrides, table: merged}, _sections={})

    def describe(self, sections: Iterable[type[Settings]] = ()) -> list[Row]:
        """Every setting, top level first and then each table of ``sections``, secrets masked."""
        out = rows(self, self.origins)
        for cls in sections:
            out.extend(rows(*self._read(cls)))
        return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    sections: Iterable[type[Settings]] | None = None,
) -> Config:
    """Settings from defaults, the config file (``path`` or ``$HIPPO_CONFIG``), then env.

    With ``sections`` (every table Hippo knows), a table the file names but nobody
    declares is an error, and every known table is read now, so that a mistake in any
    of them stops Hippo at start rather than when the table is first used.
    """
    env = dict(os.environ if env is None else env)
    path = path or env.get("HIPPO_CONFIG")
    data = _read_file(path) if path else {}
    file = str(path) if path else None
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    known = list(sections) if sections is not None else None
    problems = _unknown_tables(tables, top, known, file)
    for cls in known or []:
        try:
            read(cls, tables.get(cls.table, {}), env, file)
        except ValueError as exc:
            problems.append(str(exc).removeprefix("invalid settings: "))
    try:
        config, origins = read(Config, top, env, file, tables=tables, env=env, file=file)
    except ValueError as exc:
        problems.insert(0, str(exc).removeprefix("invalid settings: "))
    if problems:
        raise ValueError("invalid settings: " + "; ".join(problems))
    config = dataclasses.replace(config, origins=origins)
    return config


def _read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ValueError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from exc


def _unknown_tables(
    tables: Mapping[str, Any],
    top: dict[str, Any],
    known: list[type[Settings]] | None,
    file: str | None,
) -> list[str]:
    """Tables nobody declares; and top-level keys that belong in a table (``mesos_master``)."""
    if known is None:
        return []
    names = {cls.table: cls for cls in known}
    problems = []
    for name in sorted(set(tables) - set(names)):
        close = difflib.get_close_matches(name, list(names), n=1)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        problems.append(
            f"config file {file}: unknown table [{name}]{hint}; known: {', '.join(sorted(names))}"
        )
    declared_top = {f.name for f in Config.declared()}
    for key in list(top):
        if key in declared_top:
            continue
        table, _, rest = key.partition("_")
        cls = names.get(table)
        if cls is not None and rest in {f.name for f in cls.declared()}:
            del top[key]
            problems.append(f"config file {file}: {key} is now {rest} in a [{table}] table")
    return problems
