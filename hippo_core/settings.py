"""How settings are declared and read: defaults, then a TOML file, then ``HIPPO_*`` variables.

A group of settings is a frozen dataclass subclassing :class:`Settings`, each field
declared with :func:`setting` (default, meaning, bounds). :class:`hippo_core.config.Config`
holds the top-level ones; a concern with settings of its own owns a TOML table and a
``Settings`` class for it (a backend its ``[mesos]`` or ``[local]``, the API its
``[auth]``...), read on demand with ``config.section(TheClass)``.

A setting's variable is ``HIPPO_<KEY>`` at the top level and ``HIPPO_<TABLE>_<KEY>`` in
a table, unless the declaration names another (``env=``). Values are coerced to the
field's type: ``str``, ``int``, ``float``, ``bool`` (``true``/``false``, ``1``/``0``,
``yes``/``no`` in a variable) and ``tuple[str, ...]`` (a TOML array, or a comma-separated
string); ``X | None`` makes an empty variable mean unset. Every problem of a table is
reported at once, naming the file or variable it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from hippo_core.secrets import MASK, mask_url_password

S = TypeVar("S", bound="Settings")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def setting(
    default: Any,
    help: str,
    *,
    env: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
    secret: bool = False,
) -> Any:
    """Declare one setting: its ``default``, what it means, and what values it may take.

    ``secret`` settings are masked wherever settings are shown; a URL setting shows its
    password masked in any case.
    """
    metadata = {"help": help, "env": env, "minimum": minimum, "maximum": maximum, "choices": choices}
    metadata["secret"] = secret
    if isinstance(default, list | dict | set):
        raise TypeError("settings are frozen: give a tuple as the default of a list setting")
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: ``default``, ``file``, ``env`` or ``override``."""

    kind: str
    where: str = ""

    def __str__(self) -> str:
        return self.kind if not self.where else f"{self.kind} {self.where}"


DEFAULT = Origin("default")


@dataclass(frozen=True)
class Row:
    """One setting as ``hippo config`` shows it."""

    name: str
    env: str
    value: str
    origin: str
    help: str


class Settings:
    """Base of a group of settings (subclasses are frozen dataclasses).

    ``table`` is the TOML table the group lives in; empty for the top level.
    """

    table: ClassVar[str] = ""

    @classmethod
    def declared(cls) -> list[dataclasses.Field[Any]]:
        """The settings of this group (fields declared with :func:`setting`)."""
        return [f for f in dataclasses.fields(cls) if "help" in f.metadata]  # type: ignore[arg-type]

    @classmethod
    def env_var(cls, f: dataclasses.Field[Any]) -> str:
        if f.metadata["env"]:
            return str(f.metadata["env"])
        prefix = f"HIPPO_{cls.table.upper()}_" if cls.table else "HIPPO_"
        return prefix + f.name.upper()

    @classmethod
    def qualified(cls, name: str) -> str:
        return f"{cls.table}.{name}" if cls.table else name


def read(
    cls: type[S],
    values: Mapping[str, Any],
    env: Mapping[str, str],
    file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    /,
    **extra: Any,
) -> tuple[S, dict[str, Origin]]:
    """The settings of ``cls`` from file ``values``, ``env`` and ``overrides`` (highest first).

    ``extra`` passes fields that are not settings to the constructor. Raises
    ``ValueError`` listing every problem.
    """
    declared = {f.name: f for f in cls.declared()}
    where = f"config file {file}" if file else "config file"
    problems = _unknown_keys(cls, values, declared, where)
    chosen: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for name, f in declared.items():
        var = cls.env_var(f)
        try:
            if overrides and name in overrides and overrides[name] is not None:
                chosen[name], origins[name] = (
                    _coerce(cls, f, overrides[name], "command line"),
                    Origin("override"),
                )
            elif var in env:
                chosen[name] = _coerce(cls, f, env[var], f"environment variable {var}")
                origins[name] = Origin("env", var)
            elif name in values:
                chosen[name], origins[name] = _coerce(cls, f, values[name], where), Origin("file", file or "")
            else:
                origins[name] = DEFAULT
                continue
        except ValueError as exc:
            problems.append(str(exc))
            continue
        problems.extend(_out_of_bounds(cls, f, chosen[name]))
    if problems:
        raise ValueError("invalid settings: " + "; ".join(problems))
    return cls(**chosen, **extra), origins


def _unknown_keys(
    cls: type[Settings], values: Mapping[str, Any], declared: Mapping[str, Any], where: str
) -> list[str]:
    unknown = sorted(set(values) - set(declared))
    if not unknown:
        return []
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(declared), n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    place = f" in [{cls.table}]" if cls.table else ""
    return [f"{where}: unknown setting(s){place} {', '.join(hints)}; known: {', '.join(declared)}"]


def _kind(f: dataclasses.Field[Any]) -> str:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return kind.replace(" | None", "").replace("None | ", "")


def _optional(f: dataclasses.Field[Any]) -> bool:
    return isinstance(f.type, str) and "None" in f.type


def _coerce(cls: type[Settings], f: dataclasses.Field[Any], raw: Any, origin: str) -> Any:
    """``raw`` (a TOML value, an environment string, an override) as the type of setting ``f``."""
    name = cls.qualified(f.name)
    kind = _kind(f)
    from_env = origin.startswith("environment")
    if raw is None or (raw == "" and _optional(f)):
        return None
    if kind.startswith("tuple"):
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"{origin}: {name} must be a list of strings, got {raw!r}")
        return tuple(i.strip() for i in items if i.strip())
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if from_env and isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ValueError(f"{origin}: {name} must be true or false, got {raw!r}")
    # TOML booleans are ints to Python; a boolean for a number or text is always a mistake.
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"{origin}: {name} cannot be {raw!r}")
    try:
        if kind == "int":
            number = float(raw) if isinstance(raw, float) else int(raw)
            if number != int(number):
                raise ValueError("not a whole number")
            return int(number)
        if kind == "float":
            return float(raw)
    except (TypeError, ValueError) as exc:
        expected = "a whole number" if kind == "int" else "a number"
        raise ValueError(f"{origin}: expected {expected} for {name}, got {raw!r}") from exc
    if not isinstance(raw, str):
        raise ValueError(f"{origin}: expected a string for {name}, got {raw!r}")
    return raw


def _out_of_bounds(cls: type[Settings], f: dataclasses.Field[Any], value: Any) -> list[str]:
    if value is None:
        return []
    name = cls.qualified(f.name)
    low, high, choices = f.metadata["minimum"], f.metadata["maximum"], f.metadata["choices"]
    if choices is not None and str(value).upper() not in choices:
        return [f"{name} must be one of {', '.join(choices)}, got {value!r}"]
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        return [f"{name} must be {bounds}, got {value}"]
    return []


def rows(settings: Settings, origins: Mapping[str, Origin]) -> list[Row]:
    """Every setting of ``settings`` for ``hippo config``, secrets masked."""
    out = []
    for f in settings.declared():
        value = getattr(settings, f.name)
        if f.metadata["secret"] and value:
            shown = repr(MASK)
        elif isinstance(value, str):
            shown = repr(mask_url_password(value))
        else:
            shown = repr(value)
        origin = str(origins.get(f.name, DEFAULT))
        out.append(Row(settings.qualified(f.name), settings.env_var(f), shown, origin, f.metadata["help"]))
    return out
