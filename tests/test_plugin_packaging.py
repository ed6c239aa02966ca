"""The plugins of this repository, as ``hippo_plugins/plugins.toml`` lists them: each installs
alone with pip and registers itself under the names the rule gives it, every file made
from the list (requirements, the README's table, the manuals) is what the list makes, and
the README's example of each queue type creates a queue."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import falcon.testing
import pytest

from hippo_core import secrets
from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.registry import QueueTypeRegistry

ROOT = Path(__file__).resolve().parents[1]


def _load_catalog() -> ModuleType:
    # A script of the repository, not an installed package: loaded from its path.
    spec = importlib.util.spec_from_file_location(
        "hippo_plugin_catalog", ROOT / "hippo_plugins" / "catalog.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


catalog = _load_catalog()
PLUGINS = catalog.plugins()
QUEUETYPES = [plugin for plugin in PLUGINS if plugin.queuetype]

# Run in a child whose sys.path starts with the install target: it imports the installed
# copy, not this checkout's editable one, and says what it found.
PROBE = """
import importlib.metadata, json, sys
target = sys.argv[1]
[dist] = importlib.metadata.distributions(path=[target])
found = {}
for ep in dist.entry_points:
    loaded = ep.load()
    module = sys.modules[loaded.__module__] if isinstance(loaded, type) else loaded
    found[f"{ep.group}:{ep.name}"] = {
        "file": module.__file__,
        "name": getattr(loaded, "name", None),
        "schema_type": getattr(loaded, "schema", {}).get("type"),
        "bases": [c.__module__ + "." + c.__qualname__ for c in getattr(loaded, "__mro__", ())],
    }
print(json.dumps({"name": dist.metadata["Name"], "requires": dist.requires or [], "entry_points": found}))
"""


def test_the_list_names_every_distribution_under_hippo_plugins() -> None:
    folders = {path.parent.name for path in (ROOT / "hippo_plugins").glob("*/pyproject.toml")}
    assert folders == {plugin.folder for plugin in PLUGINS}
    assert {plugin.namespace for plugin in QUEUETYPES} == {"sqs", "s3bucket", "redis", "sqlquery", "cron"}


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda plugin: plugin.folder)
def test_names_follow_the_rule(plugin) -> None:
    with (ROOT / plugin.path / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    assert project["name"] == plugin.distribution
    assert (ROOT / plugin.path / plugin.package / "__init__.py").exists()
    registered = project.get("entry-points", {}).get("hippo.queuetypes", {})
    if plugin.queuetype:
        assert list(registered) == [plugin.namespace]
        assert registered[plugin.namespace].startswith(f"{plugin.package}:")
    else:
        assert registered == {}, "a support distribution registers no queue type"


def test_ruff_knows_every_package_as_hippos_own() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        first_party = tomllib.load(file)["tool"]["ruff"]["lint"]["isort"]["known-first-party"]
    assert {plugin.package for plugin in PLUGINS} <= set(first_party)


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda plugin: plugin.folder)
def test_plugin_installs_on_its_own_and_registers_itself(tmp_path: Path, plugin) -> None:
    target = tmp_path / "site"
    # Alone: no other plugin, no dependencies pulled in, into an empty directory.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(ROOT / plugin.path),
        ],
        check=True,
        capture_output=True,
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(target)],
        env={"PYTHONPATH": str(target), "PATH": ""},
        check=True,
        capture_output=True,
        text=True,
    )
    found = json.loads(probe.stdout)
    assert found["name"] == plugin.distribution
    requires = {re.match(r"[A-Za-z0-9._-]+", requirement).group() for requirement in found["requires"]}
    assert "hippo-core" in requires
    for other in PLUGINS:
        source = "\n".join(path.read_text() for path in (ROOT / plugin.path / plugin.package).rglob("*.py"))
        if other != plugin and re.search(rf"^(import|from) {other.package}\b", source, re.MULTILINE):
            assert other.distribution in requires, f"it imports {other.package} without depending on it"
    for entry in found["entry_points"].values():
        assert entry["file"].startswith(str(target)), "the installed copy was not the one loaded"
    if plugin.queuetype:
        entry = found["entry_points"][f"hippo.queuetypes:{plugin.namespace}"]
        assert "hippo_core.queuetype.QueueType" in entry["bases"]
        assert entry["name"] == plugin.namespace
        assert entry["schema_type"] == "object", "its schema.json was not installed with it"
    else:
        assert list(found["entry_points"]) == [f"pytest11:{plugin.package}"]


@pytest.mark.parametrize("path", list(catalog.made(ROOT)), ids=str)
def test_what_the_list_makes_is_current(path: Path) -> None:
    """Requirements, the README's table and the manuals: run python hippo_plugins/catalog.py."""
    assert (ROOT / path).read_text(encoding="utf-8") == catalog.made(ROOT)[path](), (
        f"{path} is stale: run python hippo_plugins/catalog.py"
    )


def test_the_list_makes_a_manual_for_every_queue_type_and_nothing_else() -> None:
    made = {path for path in catalog.made(ROOT) if path.parent == catalog.MANUALS}
    assert made == {catalog.MANUALS / f"{plugin.namespace}.md" for plugin in QUEUETYPES}
    assert {path.relative_to(ROOT) for path in (ROOT / catalog.MANUALS).glob("*")} == made


def test_every_plugin_of_the_list_is_installed_for_the_tests() -> None:
    """What requirements-dev.txt installs is what the tests of the plugins run against."""
    for plugin in PLUGINS:
        dist = importlib.metadata.distribution(plugin.distribution)
        assert Path(str(dist.locate_file(""))).exists()
        assert importlib.util.find_spec(plugin.package) is not None


def readme_examples() -> dict[str, dict[str, Any]]:
    """The queue bodies of the README's ``curl -X POST .../queues/ -d '{...}'`` examples, by type."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    bodies = [json.loads(body) for body in re.findall(r"/queues/ .*? -d '(\{.*?\})'\n", text, re.DOTALL)]
    return {body["queue"]["type"]: body for body in bodies}


@pytest.mark.parametrize("plugin", QUEUETYPES, ids=lambda plugin: plugin.namespace)
def test_the_readme_example_of_each_queue_type_creates_a_queue(hippo_store, plugin) -> None:
    body = readme_examples()[plugin.namespace]
    registry = QueueTypeRegistry()
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, registry))

    resp = client.simulate_post("/queues/", json=body)

    assert resp.status_code == 201, resp.text
    schema = registry.get(plugin.namespace).schema
    sent = body["queue"][plugin.namespace]
    for secret in secrets.secret_values(schema, sent):
        assert secret not in resp.text
    shown = resp.json["queue"][plugin.namespace]
    assert {key: shown[key] for key in sent} == secrets.mask(schema, json.loads(json.dumps(sent)))
