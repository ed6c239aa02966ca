"""Installed queue types, found through stevedore in the entry-point group ``hippo.queuetypes``.

A plugin that fails to import, or that does not honour the contract (not a
``QueueType``, a schema that is not a valid JSON schema), is kept as a failure with its
reason: ``GET /queuetypes/`` reports it and the rest of Hippo carries on.

Entry points are read when the registry is built, i.e. when ``hippo api`` or ``hippo
worker`` starts: restart them after installing or uninstalling a queue type.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from stevedore import ExtensionManager
from stevedore.extension import Extension

from hippo_core.errors import UnknownQueueType
from hippo_core.queuetype import QueueType

log = logging.getLogger(__name__)

NAMESPACE = "hippo.queuetypes"


@dataclass(frozen=True)
class LoadFailure:
    name: str
    distribution: str | None
    error: str


Provider = tuple[str | None, str | None]  # (distribution name, version)


def _providers() -> dict[tuple[str, str], Provider]:
    """(entry point name, target) -> the distribution that declares it, for our group.

    stevedore's entry-point cache drops each entry point's distribution, so it is looked
    up here, once, from the installed metadata.
    """
    found: dict[tuple[str, str], Provider] = {}
    for ep in importlib.metadata.entry_points(group=NAMESPACE):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            found.setdefault((ep.name, ep.value), (dist.metadata["Name"], dist.version))
    return found


def _contract_problem(name: str, plugin: Any) -> str | None:
    if not (isinstance(plugin, type) and issubclass(plugin, QueueType)):
        return f"{plugin!r} is not a subclass of hippo_core.queuetype.QueueType"
    if plugin.name != name:
        return f"its class says name {plugin.name!r} but it is registered as {name!r}"
    try:
        Draft202012Validator.check_schema(plugin.schema)
    except SchemaError as exc:
        return f"its settings schema is not a valid JSON schema: {exc.message}"
    return None


class QueueTypeRegistry:
    def __init__(self, manager: ExtensionManager | None = None) -> None:
        self.failures: dict[str, LoadFailure] = {}
        self._providers: dict[tuple[str, str], Provider] = {}
        if manager is None:
            self._providers = _providers()
            manager = ExtensionManager(
                NAMESPACE, invoke_on_load=False, on_load_failure_callback=self._load_failed
            )
        self._types: dict[str, type[QueueType]] = {}
        self._dists: dict[str, Provider] = {}
        for ext in manager.extensions:
            self._add(ext)

    @classmethod
    def of(cls, *types: type[QueueType]) -> QueueTypeRegistry:
        """A registry of the given classes, without entry points (for tests and embedding)."""
        # An entry point of no distribution: the registry reports none for these types.
        extensions = [
            Extension(
                t.name,
                importlib.metadata.EntryPoint(t.name, f"{t.__module__}:{t.__qualname__}", NAMESPACE),
                t,
                None,
            )
            for t in types
        ]
        return cls(ExtensionManager.make_test_instance(extensions, namespace=NAMESPACE))

    def _provider(self, entry_point: Any) -> Provider:
        if entry_point is None:
            return None, None
        dist = getattr(entry_point, "dist", None)
        if dist is not None:
            return dist.metadata["Name"], dist.version
        return self._providers.get((entry_point.name, entry_point.value), (None, None))

    def _load_failed(self, manager: ExtensionManager, entry_point: Any, error: BaseException) -> None:
        dist, _ = self._provider(entry_point)
        log.warning("queue type %r (%s) failed to load: %s", entry_point.name, dist, error, exc_info=error)
        reason = f"{type(error).__name__}: {error}"
        self.failures[entry_point.name] = LoadFailure(entry_point.name, dist, reason)

    def _add(self, ext: Extension) -> None:
        problem = _contract_problem(ext.name, ext.plugin)
        dist = self._provider(ext.entry_point)
        if problem:
            log.warning("queue type %r (%s) is unusable: %s", ext.name, dist[0], problem)
            self.failures[ext.name] = LoadFailure(ext.name, dist[0], problem)
            return
        self._types[ext.name] = ext.plugin
        self._dists[ext.name] = dist

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str) -> type[QueueType]:
        try:
            return self._types[name]
        except KeyError:
            if name in self.failures:
                failure = self.failures[name]
                raise UnknownQueueType(
                    f"{name} (installed but failed to load: {failure.error})", self.names(), None
                ) from None
            close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.5)
            raise UnknownQueueType(name, self.names(), close[0] if close else None) from None

    def describe(self) -> list[dict[str, Any]]:
        """Every queue type, usable or not, for ``GET /queuetypes/``."""
        out = []
        for name in self.names():
            qt = self._types[name]
            dist, version = self._dists[name]
            out.append(
                {
                    "name": name,
                    "label": qt.label or name,
                    "distribution": dist,
                    "version": version,
                    "available": True,
                    "error": None,
                    "schema": qt.schema,
                }
            )
        for failure in sorted(self.failures.values(), key=lambda f: f.name):
            out.append(
                {
                    "name": failure.name,
                    "label": failure.name,
                    "distribution": failure.distribution,
                    "version": None,
                    "available": False,
                    "error": failure.error,
                    "schema": {},
                }
            )
        return out
