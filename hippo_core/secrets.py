"""Secret settings: masked on the way out, kept on round trips, scrubbed from messages.

A property marked ``"x-hippo-secret": true`` is masked whole; one marked
``"x-hippo-secret": "url-password"`` is a connection URL whose password alone is masked
(``postgresql://app:********@db/x``). Sending the masked value back in an update keeps
the stored secret, so a record read from the API can be edited and sent back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

MASK = "********"
SECRET_KEY = "x-hippo-secret"
# On a secret: the settings beside it that decide what it unlocks (a query, a host, a bucket).
UNLOCKS_KEY = "x-hippo-unlocks"

# scheme://user:password@host...  (also jdbc:mysql://...); the password may hold ':'.
_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.:-]*://[^:/@]*:)(?P<pw>.*)(?P<tail>@[^@]*)$")


def mask_url_password(url: str) -> str:
    match = _URL_PASSWORD.match(url)
    if not match or not match.group("pw"):
        return url
    return f"{match.group('head')}{MASK}{match.group('tail')}"


def url_password(url: str) -> str | None:
    match = _URL_PASSWORD.match(url)
    return match.group("pw") if match and match.group("pw") else None


def _secret_fields(schema: dict[str, Any], doc: Any) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(containing dict, key, kind) for every secret field present in ``doc``."""
    if not isinstance(doc, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in doc or not isinstance(sub, dict):
            continue
        kind = sub.get(SECRET_KEY)
        if kind and isinstance(doc[key], str):
            yield doc, key, "url-password" if kind == "url-password" else "whole"
        elif isinstance(doc[key], dict):
            yield from _secret_fields(sub, doc[key])


def mask(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """Mask every secret of ``doc`` in place and return it (pass a copy)."""
    for holder, key, kind in list(_secret_fields(schema, doc)):
        value = holder[key]
        if not value:
            continue
        holder[key] = mask_url_password(value) if kind == "url-password" else MASK
    return doc


def mask_all(value: Any) -> Any:
    """``value`` with every non-empty string in it masked (for settings of an unknown schema)."""
    if isinstance(value, dict):
        return {k: mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_all(v) for v in value]
    if isinstance(value, str) and value:
        return MASK
    return value


def keep_masked(schema: dict[str, Any], new: Any, old: Any) -> None:
    """Where ``new`` carries a masked secret, put back the stored value from ``old``.

    Only while the secret would unlock what it unlocked before: every setting its schema
    names in ``x-hippo-unlocks`` (the query a database password runs, the host and list
    a Redis password reaches; undeclared, every non-secret setting beside it) is
    unchanged, and a masked URL password comes back only with the rest of its URL
    unchanged too. Otherwise the mask stays, and validation asks for the real secret:
    whoever can edit a queue must not be able to send its stored password to a host of
    their choosing, nor make it run a query of their choosing.
    """
    if not isinstance(new, dict) or not isinstance(old, dict):
        return
    props = schema.get("properties", {})

    def unchanged(names: list[str]) -> bool:
        # Settings left out of ``new`` will get their defaults, so compare with those.
        return all(
            new.get(k, props.get(k, {}).get("default")) == old.get(k)
            for k in names
            if isinstance(props.get(k), dict)
        )

    for key, sub in props.items():
        if key not in new or not isinstance(sub, dict):
            continue
        kind = sub.get(SECRET_KEY)
        value, previous = new[key], old.get(key)
        if kind and isinstance(value, str) and isinstance(previous, str):
            same_place = unchanged(unlocked_by(props, key))
            if kind == "url-password":
                if url_password(previous) is not None and mask_url_password(previous) == value and same_place:
                    new[key] = previous
            elif value == MASK and same_place:
                new[key] = previous
        elif isinstance(value, dict):
            keep_masked(sub, value, previous)


def unlocked_by(props: dict[str, Any], key: str) -> list[str]:
    """The settings beside secret ``key`` that decide what it unlocks (``x-hippo-unlocks``).

    Undeclared: every other setting beside it that is not itself a secret or a block.
    """
    declared = props[key].get(UNLOCKS_KEY)
    if isinstance(declared, list):
        return [name for name in declared if isinstance(name, str)]
    return [
        k
        for k, sub in props.items()
        if k != key and isinstance(sub, dict) and not sub.get(SECRET_KEY) and sub.get("type") != "object"
    ]


def masked_paths(schema: dict[str, Any], doc: Any, path: str = "$") -> list[str]:
    """JSONPaths of the secrets in ``doc`` that still hold the mask instead of a value.

    After :func:`keep_masked` these are masks nothing can be put back for (a new queue,
    or a secret that was empty): storing them would silently replace a secret by ``MASK``.
    """
    if not isinstance(doc, dict):
        return []
    found = []
    for key, sub in schema.get("properties", {}).items():
        if key not in doc or not isinstance(sub, dict):
            continue
        kind, value = sub.get(SECRET_KEY), doc[key]
        if kind and isinstance(value, str):
            secret = url_password(value) if kind == "url-password" else value
            if secret == MASK:
                found.append(f"{path}.{key}")
        elif isinstance(value, dict):
            found.extend(masked_paths(sub, value, f"{path}.{key}"))
    return found


def secret_values(schema: dict[str, Any], doc: Mapping[str, Any]) -> list[str]:
    """The raw secret strings in ``doc`` (whole secrets and URL passwords), for scrubbing."""
    values = []
    for holder, key, kind in _secret_fields(schema, doc):
        value = holder[key]
        secret = url_password(value) if kind == "url-password" else value
        if secret:
            values.append(secret)
    return values


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of the given secrets replaced by the mask."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text
