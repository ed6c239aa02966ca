"""A ``/files/read`` answer back to the file's bytes: the agent writes them as a raw JSON string."""

from __future__ import annotations

import pytest

from hippo_core.backends.mesos.agents import address_from_slave, master_base
from hippo_core.backends.mesos.sandbox import decode_chunk, find_directory

# (what it proves, the body the agent sent, the offset and bytes it carries)
CHUNKS = [
    ("plain text", b'{"data":"hello\\n","offset":0}', (0, b"hello\n")),
    ("the size only", b'{"data":"","offset":1234}', (1234, b"")),
    ("UTF-8 as it is", b'{"data":"caf\xc3\xa9","offset":7}', (7, b"caf\xc3\xa9")),
    ("half a character at the end", b'{"data":"\xe2\x82","offset":0}', (0, b"\xe2\x82")),
    ("its other half at the start", b'{"data":"\xac!","offset":2}', (2, b"\xac!")),
    ("a byte that is no UTF-8 at all", b'{"data":"a\xffb","offset":0}', (0, b"a\xffb")),
    ("escapes", b'{"data":"\\"\\\\\\t\\u0001\\u00e9","offset":0}', (0, b'"\\\t\x01\xc3\xa9')),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CHUNKS], ids=[c[0] for c in CHUNKS])
def test_decode_chunk(body: bytes, expected: tuple[int, bytes]) -> None:
    assert decode_chunk(body) == expected


def test_a_character_split_over_two_chunks_is_whole_again() -> None:
    _, first = decode_chunk(b'{"data":"1 \xe2\x82","offset":0}')
    _, second = decode_chunk(b'{"data":"\xac 2","offset":4}')
    assert (first + second).decode() == "1 € 2"


# (a /slaves entry, the address Hippo reaches the agent at)
SLAVES = [
    ({"pid": "slave(1)@10.0.0.5:5051", "hostname": "a.example", "port": 5051}, "http://10.0.0.5:5051"),
    ({"hostname": "a.example", "port": 5052}, "http://a.example:5052"),  # recovered: no pid
]


@pytest.mark.parametrize(("entry", "url"), SLAVES)
def test_address_from_slave(entry: dict[str, object], url: str) -> None:
    assert address_from_slave(entry, "http") == url


@pytest.mark.parametrize(
    ("master", "base"),
    [
        ("mesos-a", "http://mesos-a:5050"),
        ("https://m:5050/", "https://m:5050"),
        ("http://m/master", "http://m/master"),
    ],
)
def test_master_base(master: str, base: str) -> None:
    assert master_base(master) == base


def test_find_directory_looks_at_running_and_ended_executors_of_every_framework() -> None:
    state = {
        "frameworks": [{"executors": [{"id": "a", "directory": "/d/a"}], "completed_executors": []}],
        "completed_frameworks": [{"completed_executors": [{"id": "b", "directory": "/d/b"}]}],
    }
    assert [find_directory(state, e) for e in ("a", "b", "c")] == ["/d/a", "/d/b", None]
