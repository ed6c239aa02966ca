"""Domain errors: what went wrong, free of HTTP. The API maps them in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem in a document: where (a JSONPath such as ``$.queue.batch_size``) and what."""

    path: str
    message: str


class HippoError(Exception):
    """Base of Hippo's domain errors."""


class NotFound(HippoError):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"no {kind} with id {ident!r}")
        self.kind = kind
        self.ident = ident


class StoreUnavailable(HippoError):
    """Hippo's Redis did not answer, or failed: nothing was (or may have been) stored.

    Raised by the store for every Redis failure, so that nothing outside it need know
    which client library talks to Redis.
    """


class Conflict(HippoError):
    """The request is valid but the thing is in a state that forbids it."""


class ValidationFailed(HippoError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors


class UnknownQueueType(ValidationFailed):
    def __init__(self, name: str, installed: list[str], suggestion: str | None) -> None:
        hint = f"did you mean {suggestion!r}? " if suggestion else ""
        listed = ", ".join(installed) if installed else "none are installed"
        message = f"unknown queue type {name!r}; {hint}installed: {listed}"
        super().__init__([FieldError("$.queue.type", message)])
        self.name = name
        self.installed = installed
