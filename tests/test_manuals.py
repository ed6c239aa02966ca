"""A queue type's manual: its docstring's prose, and the settings table made from its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hippo_core.manuals import main, manual, settings_table
from hippo_core.testing.memory_queue import MemoryQueueType

ROWS = [
    # (what it proves, property, whether required, the row)
    (
        "a required string with its length",
        {"type": "string", "minLength": 1, "maxLength": 80, "description": "Name."},
        True,
        "| `x` | string | required | 1 to 80 characters |  | Name. |",
    ),
    (
        "a default shown as JSON; a lower bound alone",
        {"type": "integer", "minimum": 0, "default": 0, "description": "Start."},
        False,
        "| `x` | integer | `0` | at least 0 |  | Start. |",
    ),
    (
        "several types; null as JSON",
        {"type": ["string", "null"], "minLength": 1, "default": None, "description": "Key."},
        False,
        "| `x` | string or null | `null` | not empty |  | Key. |",
    ),
    (
        "a pipe in a pattern does not end the cell",
        {
            "type": "string",
            "pattern": "^(|.{8,})$",
            "default": "",
            "x-hippo-secret": True,
            "description": "T.",
        },
        False,
        '| `x` | string | `""` | matching `^(\\|.{8,})$` | yes | T. |',
    ),
    (
        "a pattern too long to read is named, not shown",
        {"type": "string", "pattern": "^" + "(?:ab|cd)" * 20 + "$", "description": "Long."},
        True,
        "| `x` | string | required | matching the pattern in its schema |  | Long. |",
    ),
    (
        "a URL whose password alone is secret",
        {"type": "string", "x-hippo-secret": "url-password", "description": "URL."},
        True,
        "| `x` | string | required |  | the URL's password | URL. |",
    ),
    (
        "values to choose from, an upper bound, a format",
        {"enum": ["a", "b"], "maximum": 9, "format": "uri", "default": "a", "description": "Pick."},
        False,
        '| `x` | any | `"a"` | one of `"a"`, `"b"`; at most 9; format uri |  | Pick. |',
    ),
    (
        "a description on several lines becomes one",
        {"type": "number", "exclusiveMinimum": 0, "default": 1.5, "description": "One\n  two."},
        False,
        "| `x` | number | `1.5` | more than 0 |  | One two. |",
    ),
]


@pytest.mark.parametrize(("prop", "required", "row"), [c[1:] for c in ROWS], ids=[c[0] for c in ROWS])
def test_each_setting_is_one_row(prop: dict[str, Any], required: bool, row: str) -> None:
    schema = {"type": "object", "required": ["x"] if required else [], "properties": {"x": prop}}
    header, _, *rows = settings_table(schema).split("\n")
    assert header == "| setting | type | default | allowed | secret | description |"
    assert rows == [row]


def test_the_manual_is_the_docstring_with_the_table_after_its_introduction() -> None:
    text = manual(MemoryQueueType)

    assert text.startswith("# `memory`: In-process list (reference queue type)\n\n")
    headings = [line for line in text.split("\n") if line.startswith("## ")]
    assert headings == ["## Settings", "## Cursor and custody", "## Errors", "## Example"]
    introduction = text.split("## Settings")[0]
    assert "An item is one string of the list `list`" in introduction
    assert settings_table(MemoryQueueType.schema) in text
    assert text.endswith("```\n")


def test_python_m_writes_a_manual_per_queue_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hippo_core.testing.memory_queue:MemoryQueueType", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "memory.md").read_text(encoding="utf-8") == manual(MemoryQueueType)

    assert main(["hippo_core.testing.memory_queue:MemoryQueueType"]) == 0
    assert capsys.readouterr().out == manual(MemoryQueueType)


def test_python_m_refuses_what_is_no_queue_type() -> None:
    with pytest.raises(SystemExit, match="is not a queue type"):
        main(["hippo_core.manuals:settings_table"])
