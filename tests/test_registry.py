"""The queue-type registry: entry points through stevedore, contract checks, failures kept."""

from __future__ import annotations

import logging
import uuid
from typing import ClassVar

import pytest
from stevedore import ExtensionManager
from stevedore.extension import Extension

from hippo_core.errors import UnknownQueueType
from hippo_core.registry import NAMESPACE, QueueTypeRegistry
from hippo_core.testing.memory_queue import MemoryQueueType


class OtherQueueType(MemoryQueueType):
    name: ClassVar[str] = "memcache"
    label: ClassVar[str] = ""


def _with(*extensions: Extension) -> QueueTypeRegistry:
    return QueueTypeRegistry(ExtensionManager.make_test_instance(list(extensions), namespace=NAMESPACE))


def test_of_builds_a_registry_of_classes() -> None:
    registry = QueueTypeRegistry.of(OtherQueueType, MemoryQueueType)
    assert registry.names() == ["memcache", "memory"]
    assert registry.get("memory") is MemoryQueueType
    assert [(d["name"], d["label"], d["available"]) for d in registry.describe()] == [
        ("memcache", "memcache", True),  # no label: the name stands in
        ("memory", MemoryQueueType.label, True),
    ]


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("memroy", "unknown queue type 'memroy'; did you mean 'memory'? installed: memcache, memory"),
        ("kafka", "unknown queue type 'kafka'; installed: memcache, memory"),
    ],
)
def test_unknown_type_names_it_lists_the_installed_and_suggests(asked: str, message: str) -> None:
    with pytest.raises(UnknownQueueType) as caught:
        QueueTypeRegistry.of(OtherQueueType, MemoryQueueType).get(asked)
    assert [(e.path, e.message) for e in caught.value.errors] == [("$.queue.type", message)]
    assert caught.value.installed == ["memcache", "memory"]


def test_unknown_type_when_none_is_installed() -> None:
    with pytest.raises(UnknownQueueType, match="none are installed"):
        QueueTypeRegistry.of().get("sqs")
    assert QueueTypeRegistry.of().describe() == []


class Misnamed(MemoryQueueType):
    name: ClassVar[str] = "other"


class InvalidSchema(MemoryQueueType):
    name: ClassVar[str] = "invalid"
    schema: ClassVar[dict] = {"type": "object", "required": "list"}


@pytest.mark.parametrize(
    ("name", "plugin", "problem"),
    [
        ("func", lambda: None, "is not a subclass of hippo_core.queuetype.QueueType"),
        ("cls", int, "is not a subclass of hippo_core.queuetype.QueueType"),
        ("wrong", Misnamed, "its class says name 'other' but it is registered as 'wrong'"),
        ("invalid", InvalidSchema, "its settings schema is not a valid JSON schema"),
    ],
    ids=["a-function", "another-class", "name-mismatch", "invalid-schema"],
)
def test_contract_problems_make_a_type_unavailable(name, plugin, problem, caplog) -> None:
    registry = _with(Extension("memory", None, MemoryQueueType, None), Extension(name, None, plugin, None))
    assert registry.names() == ["memory"]
    described = {d["name"]: d for d in registry.describe()}
    assert described[name]["available"] is False
    assert problem in described[name]["error"]
    assert registry.describe()[0]["name"] == "memory"  # usable ones first
    with pytest.raises(UnknownQueueType, match="installed but failed to load"):
        registry.get(name)
    assert any(r.levelno == logging.WARNING and name in r.getMessage() for r in caplog.records)


def test_entry_points_on_the_path_are_found_with_their_distribution(
    plugin_dist, monkeypatch, fresh_entry_points, caplog
) -> None:
    good = f"hippo_regtest_{uuid.uuid4().hex}"
    root = plugin_dist(
        "hippo-regtest",
        {
            f"{good}.py": "from hippo_core.testing.memory_queue import MemoryQueueType\n"
            "class Renamed(MemoryQueueType):\n    name = 'regtest'\n",
            f"{good}_broken.py": "raise RuntimeError('this plugin cannot start')\n",
        },
        {"regtest": f"{good}:Renamed", "regbroken": f"{good}_broken:Anything"},
        version="3.1.4",
    )
    monkeypatch.syspath_prepend(str(root))
    registry = QueueTypeRegistry()
    assert "regtest" in registry.names()
    described = {d["name"]: d for d in registry.describe()}
    regtest = described["regtest"]
    assert (regtest["distribution"], regtest["version"]) == ("hippo-regtest", "3.1.4")
    broken = described["regbroken"]
    assert (broken["available"], broken["distribution"]) == (False, "hippo-regtest")
    assert broken["error"] == "RuntimeError: this plugin cannot start"
    [record] = [r for r in caplog.records if "regbroken" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None  # with its traceback
