"""Queue operations behind the API: create, read (secrets masked), update, toggle, delete."""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any, cast

import orjson

from hippo_core import crypto, secrets
from hippo_core.backend import Backend
from hippo_core.crypto import Sealer
from hippo_core.documents import (
    queue_schema,
    refuse_forbidden_source,
    refuse_unrunnable,
    task_definition_of,
    validate_queue,
)
from hippo_core.errors import FieldError, NotFound, ValidationFailed
from hippo_core.policy import Policy
from hippo_core.records import Document, Queue
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Page, Store

log = logging.getLogger(__name__)

# Poller state shown inside the queue block (all read-only).
STATE_FIELDS = ("last_run_tstamp", "next_run_tstamp", "last_error", "last_error_tstamp", "cursor")
# Its tasks, counted when the queue is read (read-only too): launched and not ended, and waiting.
COUNT_FIELDS = ("active", "pending")


class QueueService:
    """``sealer`` seals secrets before they are stored (:mod:`hippo_core.crypto`; ``None``:
    stored in clear); ``policy`` refuses what the ``[policy]`` forbids (``None``: nothing)."""

    def __init__(
        self,
        store: Store,
        registry: QueueTypeRegistry,
        backend: Backend | None = None,
        sealer: Sealer | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.backend = backend
        self.sealer = sealer
        self.policy = policy
        # The schema of each queue type, read on every read of a queue (for its secrets).
        self._schemas: dict[str, Document] = {}

    def _schema_for(self, record: Mapping[str, Any]) -> Document:
        return queue_schema(self.registry, record["queue"]["type"])

    def _read_schema(self, type_name: str) -> Document:
        """``queue_schema`` of a type, made once: only read, never changed."""
        schema = self._schemas.get(type_name)
        if schema is None:
            schema = self._schemas[type_name] = queue_schema(self.registry, type_name)
        return schema

    def _opened(self, record: Mapping[str, Any]) -> Document:
        """``record`` with its secrets in clear; those no key here opens become the mask."""
        schema = self._read_schema(record["queue"]["type"])
        # A copy (through JSON: records are JSON, and this is much faster than deepcopy).
        record = orjson.loads(orjson.dumps(record))
        try:
            return crypto.open_secrets(schema, dict(record), self.sealer)
        except (crypto.SecretKeyMissing, crypto.UnreadableSecret) as exc:
            log.warning("queue %s: %s", record.get("id"), exc)
            return crypto.without_sealed(schema, dict(record))

    def public(
        self,
        record: Mapping[str, Any],
        state: Mapping[str, Any] | None,
        counts: Mapping[str, int] | None = None,
    ) -> Document:
        """The record as the API shows it: secrets masked, poller state and task counts merged in."""
        out = secrets.mask(self._read_schema(record["queue"]["type"]), self._opened(record))
        type_name = out["queue"]["type"]
        if type_name not in self.registry.names() and type_name in out["queue"]:
            # Its plugin is gone (uninstalled, or failed to load), and with it the knowledge
            # of which settings are secret: show none of them.
            out["queue"][type_name] = secrets.mask_all(out["queue"][type_name])
        state = state or {}
        for name in STATE_FIELDS:
            out["queue"][name] = state.get(name)
        counts = counts or {}
        for name in COUNT_FIELDS:
            out["queue"][name] = counts.get(name, 0)
        return out

    def _runtime(self, record: Queue) -> Document:
        """``public`` of a stored queue, its state and counts read now."""
        state, counts = self.store.get_queue_runtime([record["id"]])[0]
        return self.public(record, state, counts)

    def _checked(self, body: Any) -> Document:
        """``body`` validated, its definition and source allowed, ready to store (secrets sealed)."""
        document = validate_queue(body, self.registry)
        refuse_unrunnable(self.backend, task_definition_of(document), self.policy)
        refuse_forbidden_source(self.registry, document, self.policy)
        return crypto.seal(self._schema_for(document), document, self.sealer)

    def create(self, body: Any) -> Document:
        document = self._checked(body)
        now = time.time()
        # Valid by the queue schema: a Queue once it has an id.
        record = cast(Queue, {**document, "id": str(uuid.uuid4()), "created_at": now, "updated_at": now})
        self.store.create_queue(record)
        log.info("queue %s created: %s %r", record["id"], record["queue"]["type"], record["queue"]["name"])
        return self.public(record, None)

    def get(self, queue_id: str) -> Document:
        found = self.store.queues_with_runtime([queue_id]).items
        if not found:
            raise NotFound("queue", queue_id)
        return self.public(*found[0])

    def list(self, offset: int, limit: int) -> Page[Document]:
        page = self.store.queues_with_runtime(offset=offset, limit=limit)
        return Page([self.public(*item) for item in page.items], page.total, page.offset, page.limit)

    def update(self, queue_id: str, body: Any) -> Document:
        """Replace the queue's definition; masked secrets sent back keep their stored value."""
        if isinstance(body, dict) and body.get("id") not in (None, queue_id):
            raise ValidationFailed([FieldError("$.id", f"does not match the queue in the URL ({queue_id})")])
        current = self.store.get_queue(queue_id)
        if isinstance(body, dict):
            body = copy.deepcopy(body)
            block = body.get("queue")
            if isinstance(block, dict) and block.get("type") == current["queue"]["type"]:
                secrets.keep_masked(self._schema_for(current), body, self._opened(current))
        document = self._checked(body)

        def replace(stored: Queue) -> Queue:
            identity = {"id": queue_id, "created_at": stored["created_at"], "updated_at": time.time()}
            return cast(Queue, {**document, **identity})

        new = self.store.update_queue(queue_id, replace)
        log.info("queue %s updated", queue_id)
        return self._runtime(new)

    def toggle(self, queue_id: str) -> Document:
        def flip(stored: Queue) -> Queue:
            status = stored["queue"]["status"]
            stored["queue"]["status"] = "DISABLED" if status == "ENABLED" else "ENABLED"
            stored["updated_at"] = time.time()
            return stored

        new = self.store.update_queue(queue_id, flip)
        log.info("queue %s is now %s", queue_id, new["queue"]["status"])
        return self._runtime(new)

    def delete(self, queue_id: str) -> None:
        """Remove the queue; its tasks stay (they are history, and may still be running)."""
        self.store.delete_queue(queue_id)
        log.info("queue %s deleted", queue_id)
