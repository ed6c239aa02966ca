"""The reference queue type: the shared suites, as every plugin runs them, and its own reading."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.memory_queue import MemoryQueueType
from hippo_core.testing.suites import PollerSuite, QueueSource, QueueTypeSuite, SourceFailure

TOKEN = "tok-2c9e71b4d0"
URL_PASSWORD = "pw-6a0f3d8e1b"


@pytest.fixture
def hippo_queuetypes() -> Iterator[QueueTypeRegistry]:
    """Not an entry point: the registry holds the memory queue type alone."""
    MemoryQueueType.clear()
    yield QueueTypeRegistry.of(MemoryQueueType)
    MemoryQueueType.clear()


class MemoryListSource(QueueSource):
    queue_type = MemoryQueueType
    custody = "cursor"

    def __init__(self) -> None:
        self.list_name = f"jobs-{uuid.uuid4().hex}"
        self.added = 0

    def settings(self) -> dict[str, Any]:
        return {"list": self.list_name, "token": TOKEN, "url": f"memory://app:{URL_PASSWORD}@broker/jobs"}

    def add(self, count: int) -> list[str]:
        items = [f"item-{n:05d}" for n in range(self.added, self.added + count)]
        MemoryQueueType.push(self.list_name, *items)
        self.added += count
        return items


class TestMemoryContract(QueueTypeSuite):
    queue_type = MemoryQueueType
    required: ClassVar[list[str]] = ["list"]
    secrets: ClassVar[set[str]] = {"token", "url"}


class TestMemoryPoller(PollerSuite):
    failures = (
        SourceFailure(
            "a stored cursor that is no list index",
            lambda source: {},
            says="the stored cursor is not a list index",
            transient=False,
            cursor="yesterday",
        ),
    )

    @pytest.fixture
    def queue_source(self, hippo_queuetypes: QueueTypeRegistry) -> MemoryListSource:
        return MemoryListSource()


# -- reading like a log ---------------------------------------------------------------------


@pytest.fixture
def memory_list() -> str:
    name = f"jobs-{uuid.uuid4().hex}"
    MemoryQueueType.push(name, *[f"item-{n}" for n in range(5)])
    return name


def test_reference_type_reads_like_a_log_with_a_cursor(memory_list: str) -> None:
    settings = {"list": memory_list, "start": 1, "stop": None, "token": "", "url": ""}
    queue = MemoryQueueType(settings, "q1")
    cursor = MemoryQueueType.initial_cursor(settings)
    first = queue.poll(2, cursor)
    assert ([i.data for i in first.items], first.cursor) == (["item-1", "item-2"], 3)
    rest = queue.poll(10, first.cursor)
    assert ([i.data for i in rest.items], rest.cursor) == (["item-3", "item-4"], 5)
    assert queue.poll(10, rest.cursor).items == []
    MemoryQueueType.push(memory_list, "item-5")
    assert [i.data for i in queue.poll(10, rest.cursor).items] == ["item-5"]
    assert MemoryQueueType.items(memory_list)[0] == "item-0"  # reading takes nothing away


def test_reference_type_stops_where_told(memory_list: str) -> None:
    queue = MemoryQueueType({"list": memory_list, "start": 0, "stop": 2}, "q1")
    found = queue.poll(10, None)
    assert ([i.data for i in found.items], found.cursor) == (["item-0", "item-1"], 2)
    assert queue.poll(10, found.cursor).items == []


@pytest.mark.parametrize(
    ("start", "stop", "problems"),
    [(0, None, []), (0, 1, []), (3, 3, [("stop", "must be greater than start (3), or null")])],
)
def test_reference_type_cross_field_rule(start: int, stop: int | None, problems: list) -> None:
    assert MemoryQueueType.validate({"list": "x", "start": start, "stop": stop}) == problems
