"""``/queuetypes/``: the installed queue types; plugins come and go with their distribution."""

from __future__ import annotations

import uuid
from typing import Any

import falcon.testing
import pytest
import requests
from stevedore import ExtensionManager
from stevedore.extension import Extension

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.registry import NAMESPACE, QueueTypeRegistry
from hippo_core.testing.memory_queue import MemoryQueueType

PLUGIN_SOURCE = """
from hippo_core.queuetype import PollResult, QueueType


class ThrowAwayQueueType(QueueType):
    name = "throwaway"
    label = "Throw-away"
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "description": "Where items would come from."},
            "password": {"type": "string", "default": "", "x-hippo-secret": True},
        },
    }

    def poll(self, limit, cursor):
        return PollResult()
"""
BROKEN_SOURCE = "import hippo_module_that_does_not_exist  # the plugin's dependency is missing\n"


def _client(store: Any, registry: QueueTypeRegistry) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Config(), store, registry))


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_lists_the_installed_types_with_their_schema(client, slash) -> None:
    resp = client.simulate_get(f"/queuetypes{slash}")
    assert resp.status_code == 200
    assert resp.json == {
        "items": [
            {
                "name": "memory",
                "label": MemoryQueueType.label,
                "distribution": None,
                "version": None,
                "available": True,
                "error": None,
                "schema": MemoryQueueType.schema,
            }
        ]
    }


def test_empty_registry_is_an_empty_list(store) -> None:
    assert _client(store, QueueTypeRegistry.of()).simulate_get("/queuetypes/").json == {"items": []}


class NamedWrongly(MemoryQueueType):
    name = "something-else"


class BadSchema(MemoryQueueType):
    name = "badschema"
    schema = {"type": "object", "properties": {"x": {"type": "no-such-type"}}}


@pytest.mark.parametrize(
    ("name", "plugin", "error"),
    [
        ("notaclass", object(), "is not a subclass of hippo_core.queuetype.QueueType"),
        ("notaqueuetype", dict, "is not a subclass of hippo_core.queuetype.QueueType"),
        ("misnamed", NamedWrongly, "its class says name 'something-else' but it is registered as 'misnamed'"),
        ("badschema", BadSchema, "its settings schema is not a valid JSON schema"),
    ],
    ids=["not-a-class", "not-a-queue-type", "misnamed", "invalid-schema"],
)
def test_a_plugin_breaking_the_contract_is_listed_unavailable_and_not_fatal(
    store, queue_body, error_of, name, plugin, error
) -> None:
    manager = ExtensionManager.make_test_instance(
        [Extension("memory", None, MemoryQueueType, None), Extension(name, None, plugin, None)],
        namespace=NAMESPACE,
    )
    client = _client(store, QueueTypeRegistry(manager))
    listed = {qt["name"]: qt for qt in client.simulate_get("/queuetypes/").json["items"]}
    assert listed["memory"]["available"] is True
    assert listed[name]["available"] is False
    assert error in listed[name]["error"]
    assert listed[name]["schema"] == {}
    # The rest of Hippo carries on: queues of the working type are created as usual.
    assert client.simulate_post("/queues/", json=queue_body()).status_code == 201
    # And a queue of the broken type is refused with the reason.
    body = queue_body()
    body["queue"]["type"] = name
    body["queue"][name] = body["queue"].pop("memory")
    [problem] = error_of(client.simulate_post("/queues/", json=body), 400)["errors"]
    assert problem["path"] == "$.queue.type"
    assert "failed to load" in problem["message"]


# -- real entry points --------------------------------------------------------------------


def test_a_distribution_on_the_path_registers_its_type(
    plugin_dist, monkeypatch, store, fresh_entry_points
) -> None:
    module = f"hippo_throwaway_{uuid.uuid4().hex}"
    root = plugin_dist(
        "hippo-throwaway",
        {f"{module}/__init__.py": PLUGIN_SOURCE},
        {"throwaway": f"{module}:ThrowAwayQueueType"},
        version="2.5",
    )
    monkeypatch.syspath_prepend(str(root))
    listed = {
        qt["name"]: qt
        for qt in _client(store, QueueTypeRegistry()).simulate_get("/queuetypes/").json["items"]
    }
    assert listed["throwaway"]["available"] is True
    assert listed["throwaway"]["distribution"] == "hippo-throwaway"
    assert listed["throwaway"]["version"] == "2.5"
    assert listed["throwaway"]["schema"]["required"] == ["path"]


def test_a_plugin_that_fails_to_import_is_reported(
    plugin_dist, monkeypatch, store, caplog, fresh_entry_points
) -> None:
    module = f"hippo_broken_{uuid.uuid4().hex}"
    root = plugin_dist("hippo-broken", {f"{module}.py": BROKEN_SOURCE}, {"broken": f"{module}:Nothing"})
    monkeypatch.syspath_prepend(str(root))
    client = _client(store, QueueTypeRegistry())
    listed = {qt["name"]: qt for qt in client.simulate_get("/queuetypes/").json["items"]}
    assert listed["broken"]["available"] is False
    assert listed["broken"]["distribution"] == "hippo-broken"
    assert "ModuleNotFoundError" in listed["broken"]["error"]
    assert "hippo_module_that_does_not_exist" in listed["broken"]["error"]
    # Warned about, with the traceback.
    [record] = [r for r in caplog.records if "'broken'" in r.getMessage()]
    assert record.exc_info is not None
    assert client.simulate_get("/healthz").status_code == 200


def _types(api_url: str) -> dict[str, dict[str, Any]]:
    resp = requests.get(f"{api_url}/queuetypes/", timeout=10)
    assert resp.status_code == 200
    return {qt["name"]: qt for qt in resp.json()["items"]}


def test_install_and_uninstall_a_plugin(plugin_dist, hippo_api) -> None:
    """A plugin appears in a `hippo api` that can import its distribution, and is gone without it."""
    root = plugin_dist(
        "hippo-throwaway",
        {"hippo_throwaway/__init__.py": PLUGIN_SOURCE},
        {"throwaway": "hippo_throwaway:ThrowAwayQueueType"},
    )
    installed = hippo_api(pythonpath=[root])
    listed = _types(installed.url)
    assert listed["throwaway"]["available"] is True
    assert listed["throwaway"]["distribution"] == "hippo-throwaway"
    queue = {
        "cmd": "true",
        "container": {"docker": {"image": "busybox"}},
        "queue": {"type": "throwaway", "name": "t", "throwaway": {"path": "/x", "password": "hunter2-xyz"}},
    }
    created = requests.post(f"{installed.url}/queues/", json=queue, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["queue"]["throwaway"]["password"] == "********"

    uninstalled = hippo_api()
    assert "throwaway" not in _types(uninstalled.url)
    refused = requests.post(f"{uninstalled.url}/queues/", json=queue, timeout=10)
    assert refused.status_code == 400
    assert "unknown queue type 'throwaway'" in refused.json()["errors"][0]["message"]
    assert "hunter2-xyz" not in installed.log() + uninstalled.log()


def test_a_broken_plugin_on_the_path_leaves_the_api_up(plugin_dist, hippo_api) -> None:
    root = plugin_dist("hippo-broken", {"hippo_broken.py": BROKEN_SOURCE}, {"broken": "hippo_broken:Nothing"})
    api = hippo_api(pythonpath=[root])
    listed = _types(api.url)
    assert listed["broken"]["available"] is False
    assert "hippo_module_that_does_not_exist" in listed["broken"]["error"]
    assert requests.get(f"{api.url}/queues/", timeout=10).status_code == 200
    assert requests.get(f"{api.url}/readyz", timeout=10).status_code == 200
    assert "failed to load" in api.log()
