"""Secrets: masked on the way out, kept on round trips, refused as masks, scrubbed from text."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hippo_core.secrets import (
    MASK,
    keep_masked,
    mask,
    mask_all,
    mask_url_password,
    masked_paths,
    scrub,
    secret_values,
    url_password,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "token": {"type": "string", "x-hippo-secret": True},
        "dsn": {"type": "string", "x-hippo-secret": "url-password"},
        "nested": {
            "type": "object",
            "properties": {"awssecret": {"type": "string", "x-hippo-secret": True}},
        },
    },
}
STORED = {
    "name": "orders",
    "token": "tok-123456",
    "dsn": "postgresql://app:pg-pass@db:5432/orders",
    "nested": {"awssecret": "aws-abcdef"},
}


@pytest.mark.parametrize(
    ("url", "masked", "password"),
    [
        ("postgresql://app:pg-pass@db:5432/x", f"postgresql://app:{MASK}@db:5432/x", "pg-pass"),
        ("mysql+pymysql://u:p@h/db", f"mysql+pymysql://u:{MASK}@h/db", "p"),
        ("jdbc:mysql://u:pw@h:3306/db", f"jdbc:mysql://u:{MASK}@h:3306/db", "pw"),
        ("redis://:only-pw@h:6379/0", f"redis://:{MASK}@h:6379/0", "only-pw"),
        # Passwords with ':' or '@' in them are masked whole.
        ("postgresql://app:a:b@c@db/x", f"postgresql://app:{MASK}@db/x", "a:b@c"),
        # Nothing to mask.
        ("postgresql://app@db/x", "postgresql://app@db/x", None),
        ("postgresql://db:5432/x", "postgresql://db:5432/x", None),
        ("postgresql://app:@db/x", "postgresql://app:@db/x", None),
        ("not a url", "not a url", None),
        ("", "", None),
    ],
)
def test_url_passwords(url: str, masked: str, password: str | None) -> None:
    assert mask_url_password(url) == masked
    assert url_password(url) == password


def test_mask_hides_every_secret_and_nothing_else() -> None:
    shown = mask(SCHEMA, copy.deepcopy(STORED))
    assert shown == {
        "name": "orders",
        "token": MASK,
        "dsn": f"postgresql://app:{MASK}@db:5432/orders",
        "nested": {"awssecret": MASK},
    }


def test_mask_leaves_empty_secrets_empty() -> None:
    """An empty secret shows as empty, so people see that none is set."""
    assert mask(SCHEMA, {"token": "", "dsn": ""}) == {"token": "", "dsn": ""}


def test_mask_ignores_what_is_not_a_string() -> None:
    assert mask(SCHEMA, {"token": 5, "nested": "x"}) == {"token": 5, "nested": "x"}


def test_a_masked_record_sent_back_gets_the_stored_secrets() -> None:
    new = mask(SCHEMA, copy.deepcopy(STORED))
    keep_masked(SCHEMA, new, STORED)
    assert new == STORED


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://app:{MASK}@new-db:5432/orders",  # another host
        f"postgresql://app:{MASK}@db:6432/orders",  # another port
        f"postgresql://other:{MASK}@db:5432/orders",  # another user
        f"mysql://app:{MASK}@db:5432/orders",  # another scheme
    ],
)
def test_a_masked_password_does_not_follow_a_url_to_another_place(dsn: str) -> None:
    new = {"dsn": dsn}
    keep_masked(SCHEMA, new, STORED)
    assert new == {"dsn": dsn}, "the mask stays, and validation asks for the real password"
    assert masked_paths(SCHEMA, new) == ["$.dsn"]


def test_a_masked_whole_secret_does_not_follow_changed_settings_beside_it() -> None:
    new = {**mask(SCHEMA, copy.deepcopy(STORED)), "name": "elsewhere"}
    keep_masked(SCHEMA, new, STORED)
    assert new["token"] == MASK, "a secret next to a changed setting must be sent again"
    assert new["nested"]["awssecret"] == "aws-abcdef", "a block whose own settings are unchanged keeps it"


def test_new_secrets_replace_the_stored_ones() -> None:
    new = {"token": "tok-new", "dsn": "postgresql://app:new-pass@db/x", "nested": {"awssecret": ""}}
    keep_masked(SCHEMA, new, STORED)
    assert new == {"token": "tok-new", "dsn": "postgresql://app:new-pass@db/x", "nested": {"awssecret": ""}}


@pytest.mark.parametrize(
    ("new", "old", "paths"),
    [
        ({"token": MASK}, {}, ["$.token"]),
        ({"dsn": f"pg://u:{MASK}@h/x"}, {"dsn": "pg://u@h/x"}, ["$.dsn"]),
        ({"nested": {"awssecret": MASK}}, {"nested": {}}, ["$.nested.awssecret"]),
        ({"name": "orders", "token": MASK, "dsn": f"postgresql://app:{MASK}@db:5432/orders"}, STORED, []),
        ({"name": MASK}, {}, []),
    ],
    ids=["whole-secret-new", "url-without-stored-password", "nested", "all-kept", "not-a-secret"],
)
def test_masks_nothing_can_be_put_back_for_are_found(new: dict, old: dict, paths: list[str]) -> None:
    new = copy.deepcopy(new)
    keep_masked(SCHEMA, new, old)
    assert masked_paths(SCHEMA, new) == paths


def test_secret_values_and_scrub() -> None:
    values = secret_values(SCHEMA, STORED)
    assert sorted(values) == ["aws-abcdef", "pg-pass", "tok-123456"]
    text = f"failed: {STORED} / token tok-123456"
    cleaned = scrub(text, values)
    for value in values:
        assert value not in cleaned
    assert cleaned.count(MASK) == 4


def test_scrub_replaces_longer_secrets_first_and_skips_tiny_ones() -> None:
    assert scrub("abcdef abc", ["abc", "abcdef"]) == f"{MASK} {MASK}"
    # Masking 'a' everywhere would make every message unreadable; such secrets are
    # never quoted by Hippo's messages in the first place.
    assert scrub("a cat", ["a"]) == "a cat"


def test_mask_all_hides_every_string() -> None:
    assert mask_all({"a": "x", "b": ["y", 1, ""], "c": {"d": "z", "e": None}}) == {
        "a": MASK,
        "b": [MASK, 1, ""],
        "c": {"d": MASK, "e": None},
    }
