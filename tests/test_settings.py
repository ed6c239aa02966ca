"""Declared settings: how a table's values are read, coerced, bounded and shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from hippo_core.settings import Settings, read, rows, setting


@dataclass(frozen=True)
class Example(Settings):
    table: ClassVar[str] = "example"

    tokens: tuple[str, ...] = setting((), "Tokens, several allowed.", env="HIPPO_EXAMPLE_TOKEN", secret=True)
    strict: bool = setting(False, "Whether to be strict.")
    limit: int | None = setting(None, "A bound, if any.", minimum=1, maximum=10)
    mode: str = setting("fast", "How to go.", choices=("FAST", "SLOW"))


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"HIPPO_EXAMPLE_TOKEN": "a,b , ,c"}, "tokens", ("a", "b", "c")),  # comma-separated, trimmed
        ({"HIPPO_EXAMPLE_TOKEN": ""}, "tokens", ()),
        ({"HIPPO_EXAMPLE_STRICT": "yes"}, "strict", True),
        ({"HIPPO_EXAMPLE_STRICT": "0"}, "strict", False),
        ({"HIPPO_EXAMPLE_STRICT": "TRUE"}, "strict", True),
        ({"HIPPO_EXAMPLE_LIMIT": ""}, "limit", None),  # empty unsets an optional setting
        ({"HIPPO_EXAMPLE_LIMIT": "7"}, "limit", 7),
        ({"HIPPO_EXAMPLE_MODE": "slow"}, "mode", "slow"),
    ],
)
def test_environment_values_are_coerced_to_the_declared_type(env, field, value):
    settings, origins = read(Example, {}, env)
    assert getattr(settings, field) == value
    assert origins[field].kind == "env"


@pytest.mark.parametrize(
    ("values", "field", "value"),
    [
        ({"tokens": ["x", "y"]}, "tokens", ("x", "y")),  # a TOML array
        ({"tokens": "x,y"}, "tokens", ("x", "y")),  # or one string, as in a variable
        ({"strict": True}, "strict", True),
        ({"limit": 10}, "limit", 10),
    ],
)
def test_file_values_are_coerced_too(values, field, value):
    assert getattr(read(Example, values, {}, "hippo.toml")[0], field) == value


@pytest.mark.parametrize(
    ("values", "env", "message"),
    [
        ({"strict": "yes"}, {}, "example.strict must be true or false"),  # only a variable spells booleans
        ({}, {"HIPPO_EXAMPLE_STRICT": "maybe"}, "environment variable HIPPO_EXAMPLE_STRICT: example.strict"),
        ({"tokens": [1, 2]}, {}, "example.tokens must be a list of strings"),
        ({"limit": 11}, {}, "example.limit must be between 1 and 10, got 11"),
        ({"mode": "medium"}, {}, "example.mode must be one of FAST, SLOW"),
        ({"limt": 3}, {}, "unknown setting(s) in [example] limt (did you mean limit?)"),
    ],
)
def test_bad_values_name_the_setting_and_where_they_came_from(values, env, message):
    with pytest.raises(ValueError) as caught:
        read(Example, values, env, "hippo.toml")
    assert message in str(caught.value)


def test_secrets_are_masked_when_shown():
    settings, origins = read(Example, {"tokens": ["t0ken-abc"]}, {}, "hippo.toml")
    shown = {row.name: row for row in rows(settings, origins)}
    assert shown["example.tokens"].value == "'********'"
    assert shown["example.tokens"].env == "HIPPO_EXAMPLE_TOKEN"
    assert shown["example.tokens"].origin == "file hippo.toml"


def test_a_list_setting_needs_an_immutable_default():
    with pytest.raises(TypeError, match="tuple"):
        setting([], "A mutable default.")
