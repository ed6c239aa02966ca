"""Find a backend by name in the entry-point group ``hippo.backends``."""

from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint
from typing import Any

from stevedore import ExtensionManager

from hippo_core.backend import Backend

NAMESPACE = "hippo.backends"


class UnknownBackend(ValueError):
    pass


def backend_class(name: str) -> type[Backend]:
    """The backend class registered as ``name``; a clear error naming the installed ones."""
    failures: dict[str, str] = {}

    def failed(manager: ExtensionManager[Any], entry_point: EntryPoint, error: BaseException) -> None:
        failures[entry_point.name] = f"{type(error).__name__}: {error}"

    manager: ExtensionManager[Any] = ExtensionManager(NAMESPACE, on_load_failure_callback=failed)
    found = {ext.name: ext.plugin for ext in manager.extensions}
    if name in found:
        return found[name]
    if name in failures:
        raise UnknownBackend(f"backend {name!r} is installed but failed to load: {failures[name]}")
    close = difflib.get_close_matches(name, list(found), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownBackend(f"unknown backend {name!r}{hint} (installed: {', '.join(sorted(found)) or 'none'})")


def installed_backends() -> list[type[Backend]]:
    """Every backend that loads, for listing their settings (``hippo config``)."""
    manager: ExtensionManager[Any] = ExtensionManager(NAMESPACE)
    return [ext.plugin for ext in sorted(manager.extensions, key=lambda e: e.name)]
