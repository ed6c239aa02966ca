"""A queue type's manual: the prose of its docstring, with a settings table its schema makes.

The prose (what an item is, custody, the cursor, errors, an example) is the docstring
of the package that holds the queue type and its ``schema.json`` (of the module itself
for a single-file plugin), written in Markdown: a summary, an introduction, then ``## ``
sections. It says nothing of the individual settings: :func:`settings_table` renders
those from the schema (name, type, default, allowed values, secret, description), and
:func:`manual` puts the table right after the introduction. So the two cannot drift.

``python -m hippo_core.manuals [NAME ...] [--out DIR]`` prints the manuals of installed
queue types (``sqs``) or of classes (``package.module:Class``), or writes them to
``DIR/<name>.md``; without names, every installed queue type.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from hippo_core.queuetype import QueueType
from hippo_core.registry import QueueTypeRegistry
from hippo_core.secrets import SECRET_KEY

SETTINGS_HEADING = "## Settings"
_COLUMNS = ("setting", "type", "default", "allowed", "secret", "description")


def manual_module(queue_type: type[QueueType]) -> ModuleType:
    """The module whose docstring is ``queue_type``'s manual: the package beside its schema."""
    module = sys.modules[queue_type.__module__]
    spec = module.__spec__
    if spec is None or spec.submodule_search_locations is not None or not spec.parent:
        return module
    return importlib.import_module(spec.parent)


def _cell(text: str) -> str:
    # A table cell is one line, and a pipe would end it.
    return " ".join(text.split()).replace("|", "\\|")


def _code(value: Any) -> str:
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _type(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if kind is None:
        return "any"
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


# Patterns longer than this are named, not shown (GET /queuetypes/ and /openapi.json show them).
LONGEST_PATTERN = 80


def _range(low: Any, high: Any, unit: str = "") -> str | None:
    if low is not None and high is not None:
        return f"{low} to {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    if high is not None:
        return f"at most {high}{unit}"
    return None


def _allowed(prop: dict[str, Any]) -> str:
    parts = []
    if "enum" in prop:
        parts.append("one of " + ", ".join(_code(value) for value in prop["enum"]))
    if "const" in prop:
        parts.append(f"only {_code(prop['const'])}")
    numbers = _range(prop.get("minimum"), prop.get("maximum"))
    if numbers:
        parts.append(numbers)
    if "exclusiveMinimum" in prop:
        parts.append(f"more than {prop['exclusiveMinimum']}")
    if "exclusiveMaximum" in prop:
        parts.append(f"less than {prop['exclusiveMaximum']}")
    shortest, longest = prop.get("minLength"), prop.get("maxLength")
    if shortest == 1 and longest is None:
        parts.append("not empty")
    elif lengths := _range(shortest, longest, " characters"):
        parts.append(lengths)
    if "pattern" in prop:
        if len(prop["pattern"]) <= LONGEST_PATTERN:
            parts.append(f"matching `{prop['pattern']}`")
        else:
            # A pattern as long as a URL's grammar reads as noise; the description says it in words.
            parts.append("matching the pattern in its schema")
    if "format" in prop:
        parts.append(f"format {prop['format']}")
    return "; ".join(parts)


def _secret(prop: dict[str, Any]) -> str:
    marked = prop.get(SECRET_KEY)
    if marked == "url-password":
        return "the URL's password"
    return "yes" if marked else ""


def settings_table(schema: dict[str, Any]) -> str:
    """A Markdown table of the settings ``schema`` declares, in its order."""
    required = set(schema.get("required", []))
    rows = [
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for name, prop in schema.get("properties", {}).items():
        default = "required" if name in required else _code(prop["default"]) if "default" in prop else ""
        description = prop.get("description", "")
        cells = (f"`{name}`", _type(prop), default, _allowed(prop), _secret(prop), description)
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows)


def manual(queue_type: type[QueueType]) -> str:
    """``queue_type``'s manual in Markdown: its docstring's prose and its settings table."""
    prose = inspect.cleandoc(manual_module(queue_type).__doc__ or "")
    introduction, heading, sections = prose.partition("\n## ")
    settings = (
        f"{SETTINGS_HEADING}\n\n"
        f"The `{queue_type.name}` block of a queue. Optional settings take their default when "
        f"left out.\n\n{settings_table(queue_type.schema)}"
    )
    parts = [f"# `{queue_type.name}`: {queue_type.label or queue_type.name}", introduction.strip(), settings]
    if heading:
        parts.append(f"## {sections.strip()}")
    return "\n\n".join(parts) + "\n"


def _queue_type(name: str, registry: QueueTypeRegistry) -> type[QueueType]:
    if ":" not in name:
        return registry.get(name)
    module_name, _, class_name = name.partition(":")
    found = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(found, type) and issubclass(found, QueueType)):
        raise SystemExit(f"{name} is not a queue type (a subclass of hippo_core.queuetype.QueueType)")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hippo_core.manuals", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="installed queue types, or package.module:Class")
    parser.add_argument("--out", type=Path, help="write DIR/<name>.md instead of printing")
    args = parser.parse_args(argv)
    registry = QueueTypeRegistry()
    types = [_queue_type(name, registry) for name in args.names or registry.names()]
    for queue_type in types:
        text = manual(queue_type)
        if args.out is None:
            sys.stdout.write(text)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{queue_type.name}.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
