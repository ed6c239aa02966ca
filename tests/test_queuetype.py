"""The queue-type kit: the settings schema read from beside the module, and the error table
that poll and ack go through."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hippo_core.queuetype import (
    ErrorRule,
    Item,
    PollResult,
    QueueType,
    QueueTypeError,
    SchemaFileError,
    TransientError,
)
from hippo_core.testing.memory_queue import MemoryQueueType

SCHEMA = {"type": "object", "properties": {"path": {"type": "string", "description": "Where."}}}
PLUGIN = """
from hippo_core.queuetype import PollResult, QueueType


class {cls}(QueueType):
    name = "kit"

    def poll(self, limit, cursor):
        return PollResult()
"""


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``make(files)``: write ``{relative path: text}`` under a fresh directory on sys.path
    and import the module the first path names (``pkg/__init__.py`` -> ``pkg``)."""

    def make(files: dict[str, str]) -> Any:
        root = tmp_path / uuid.uuid4().hex
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        monkeypatch.syspath_prepend(str(root))
        first = next(iter(files)).removesuffix(".py").removesuffix("/__init__")
        return importlib.import_module(first.replace("/", "."))

    return make


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# -- the schema beside the module ---------------------------------------------------------

LAYOUTS = [
    # (what it proves, where the class lives, where its schema.json is)
    ("a package's __init__", "{pkg}/__init__.py", "{pkg}/schema.json"),
    ("a module inside a package: the package's directory", "{pkg}/queuetype.py", "{pkg}/schema.json"),
    ("a single-file plugin: the file's directory", "{pkg}.py", "schema.json"),
]


@pytest.mark.parametrize(("module", "schema"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS])
def test_a_subclass_gets_its_schema_from_schema_json_beside_its_module(plugin_module, module, schema):
    pkg = unique("hippo_kit")
    files = {
        module.format(pkg=pkg): PLUGIN.format(cls="KitQueueType"),
        schema.format(pkg=pkg): json.dumps(SCHEMA),
    }
    if module.endswith("queuetype.py"):
        files[f"{pkg}/__init__.py"] = ""
    loaded = plugin_module(files)

    assert loaded.KitQueueType.schema == SCHEMA


PROBLEMS = [
    # (what it proves, schema.json's text or None for no file, what the error says)
    ("no file", None, "has no settings schema: .* does not exist"),
    ("not JSON", '{"type": "object",', "is not valid JSON: Expecting"),
    ("JSON, but no object", '["type", "object"]', "must hold a JSON object, not list"),
]


@pytest.mark.parametrize(("text", "says"), [c[1:] for c in PROBLEMS], ids=[c[0] for c in PROBLEMS])
def test_a_missing_or_broken_schema_file_stops_the_import_naming_the_file(plugin_module, text, says):
    pkg = unique("hippo_kit_broken")
    files = {f"{pkg}/__init__.py": PLUGIN.format(cls="BrokenQueueType")}
    if text is not None:
        files[f"{pkg}/schema.json"] = text

    with pytest.raises(SchemaFileError, match=says) as caught:
        plugin_module(files)

    assert f"{pkg}/schema.json" in str(caught.value)
    assert f"{pkg}.BrokenQueueType" in str(caught.value)


def test_a_class_that_sets_its_schema_needs_no_file() -> None:
    class Inline(QueueType):
        name = "inline"
        schema: ClassVar[dict[str, Any]] = SCHEMA

    assert Inline.schema is SCHEMA


def test_a_subclass_of_a_queue_type_keeps_its_schema() -> None:
    class Derived(MemoryQueueType):
        name: ClassVar[str] = "derived"

    assert Derived.schema is MemoryQueueType.schema
    assert MemoryQueueType.schema["required"] == ["list"]  # read from memory_queue/schema.json


# -- the error table ----------------------------------------------------------------------


class SourceDown(Exception):
    """Stands for a client library's exceptions."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class Refused(SourceDown):
    pass


class OwnTransient(TransientError):
    pass


def fail(error: BaseException) -> Callable[..., Any]:
    def raising(*args: Any) -> Any:
        raise error

    return raising


class Tabled(MemoryQueueType):
    """The memory queue type with a source that fails as each test says."""

    name: ClassVar[str] = "tabled"
    transient_error: ClassVar[type[TransientError]] = OwnTransient
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (
        ErrorRule(Refused, "refused {queue.settings[list]!r}: {error}"),  # a subclass before its base
        ErrorRule(SourceDown, "busy ({error})", transient=True, when=lambda error: error.code == 503),
        ErrorRule(SourceDown, lambda queue, error: f"code {error.code}; fix the list name"),
        ErrorRule(ConnectionError, transient=True, message=None),
        ErrorRule(LookupError),
    )
    failure: ClassVar[BaseException | None] = None

    def poll(self, limit: int, cursor: Any) -> PollResult:
        if self.failure is not None:
            raise self.failure
        return super().poll(limit, cursor)

    def ack(self, items: list[Item]) -> None:
        if self.failure is not None:
            raise self.failure


SETTINGS = {
    "list": "jobs",
    "start": 0,
    "stop": None,
    "token": "tok-4f1d9c2b",
    "url": "memory://u:pw-83e1a0@h/",
}

TRANSLATIONS = [
    # (what it proves, raised, class raised instead, its message after "memory list 'jobs': ")
    ("a subclass's rule wins over its base's", Refused("no", 503), QueueTypeError, "refused 'jobs': no"),
    ("a rule's test picks among errors of a class", SourceDown("x", 503), OwnTransient, "busy (x)"),
    (
        "the next rule takes what the test left",
        SourceDown("x", 404),
        QueueTypeError,
        "code 404; fix the list name",
    ),
    ("the default message: the error's class and text", KeyError("k"), QueueTypeError, "KeyError: 'k'"),
]


@pytest.mark.parametrize(
    ("error", "kind", "message"), [c[1:] for c in TRANSLATIONS], ids=[c[0] for c in TRANSLATIONS]
)
@pytest.mark.parametrize("method", ["poll", "ack"])
def test_poll_and_ack_raise_what_the_table_makes_of_an_error(monkeypatch, method, error, kind, message):
    monkeypatch.setattr(Tabled, "failure", error)
    queue = Tabled(SETTINGS, "q-1")

    with pytest.raises(QueueTypeError) as caught:
        queue.poll(1, None) if method == "poll" else queue.ack([Item("a")])

    assert type(caught.value) is kind
    assert str(caught.value) == f"memory list 'jobs': {message}"
    assert caught.value.__cause__ is error
    assert queue.is_transient(caught.value) is (kind is OwnTransient)
    assert queue.is_transient(error) is (kind is OwnTransient), "the raw error is judged alike"


def test_the_queues_secrets_are_masked_in_a_translated_message(monkeypatch) -> None:
    monkeypatch.setattr(Tabled, "failure", SourceDown(f"login {SETTINGS['token']} at {SETTINGS['url']}", 1))

    with pytest.raises(QueueTypeError) as caught:
        Tabled(SETTINGS, "q-1").poll(1, None)

    assert str(caught.value) == "memory list 'jobs': code 1; fix the list name"
    monkeypatch.setattr(Tabled, "failure", KeyError(f"login {SETTINGS['token']} at {SETTINGS['url']}"))
    with pytest.raises(QueueTypeError) as caught:
        Tabled(SETTINGS, "q-1").poll(1, None)
    assert "tok-4f1d9c2b" not in str(caught.value) and "pw-83e1a0" not in str(caught.value)
    assert str(caught.value).count("********") == 2


def test_notes_on_the_error_are_kept(monkeypatch) -> None:
    error = SourceDown("x", 503)
    error.add_note("3 items stay hidden")
    monkeypatch.setattr(Tabled, "failure", error)

    with pytest.raises(OwnTransient) as caught:
        Tabled(SETTINGS, "q-1").poll(1, None)

    assert caught.value.__notes__ == ["3 items stay hidden"]


def test_a_rule_without_a_message_only_classifies(monkeypatch) -> None:
    error = ConnectionRefusedError("refused")
    monkeypatch.setattr(Tabled, "failure", error)
    queue = Tabled(SETTINGS, "q-1")

    with pytest.raises(ConnectionRefusedError) as caught:
        queue.poll(1, None)

    assert caught.value is error
    assert queue.is_transient(error)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        pytest.param(QueueTypeError("bad settings"), False, id="a QueueTypeError as raised"),
        pytest.param(OwnTransient("busy"), True, id="a TransientError as raised"),
        pytest.param(RuntimeError("bug"), False, id="an error no rule covers"),
    ],
)
def test_what_no_rule_translates_is_raised_as_it_is(monkeypatch, error, transient) -> None:
    monkeypatch.setattr(Tabled, "failure", error)
    queue = Tabled(SETTINGS, "q-1")

    with pytest.raises(type(error)) as caught:
        queue.poll(1, None)

    assert caught.value is error
    assert queue.is_transient(error) is transient


def test_the_base_class_names_the_source_by_type_and_queue() -> None:
    class Plain(QueueType):
        name = "plain"
        schema: ClassVar[dict[str, Any]] = SCHEMA
        error_rules = (ErrorRule(OSError, "gone"),)

        def poll(self, limit: int, cursor: Any) -> PollResult:
            raise OSError("x")

    with pytest.raises(QueueTypeError, match=r"^plain queue q-7: gone$"):
        Plain({}, "q-7").poll(1, None)


def test_a_subclass_calling_its_parents_poll_is_translated_once(monkeypatch) -> None:
    class Outer(Tabled):
        name = "outer"

        def poll(self, limit: int, cursor: Any) -> PollResult:
            return super().poll(limit, cursor)

    monkeypatch.setattr(Tabled, "failure", SourceDown("x", 503))
    with pytest.raises(OwnTransient) as caught:
        Outer(SETTINGS, "q-1").poll(1, None)

    assert str(caught.value) == "memory list 'jobs': busy (x)"
    assert isinstance(caught.value.__cause__, SourceDown)
