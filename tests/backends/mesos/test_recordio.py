"""The RecordIO decoder survives any chunking of the Mesos event stream and rejects garbage."""

from __future__ import annotations

import json

import pytest

from hippo_core.backends.mesos.recordio import RecordIODecoder, RecordIOError, encode

SUBSCRIBED = json.dumps({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "fw-1"}}}).encode()
HEARTBEAT = b'{"type":"HEARTBEAT"}'
UNICODE = json.dumps({"message": "tâche échouée ✓"}, ensure_ascii=False).encode()


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut ``data`` into pieces of the given sizes (cycled), like a network would."""
    pieces, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        pieces.append(data[pos : pos + size])
        pos += size
        i += 1
    return pieces


def decode_all(pieces: list[bytes]) -> list[bytes]:
    decoder = RecordIODecoder()
    records = []
    for piece in pieces:
        records.extend(decoder.feed(piece))
    decoder.close()
    return records


STREAM = encode(SUBSCRIBED) + encode(HEARTBEAT) + encode(UNICODE) + encode(HEARTBEAT)
EXPECTED = [SUBSCRIBED, HEARTBEAT, UNICODE, HEARTBEAT]


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([STREAM], id="all records in one chunk"),
        pytest.param([bytes([b]) for b in STREAM], id="one byte at a time"),
        pytest.param(chunked(STREAM, [2]), id="length lines split after the first digit"),
        pytest.param(chunked(STREAM, [7, 3, 50]), id="irregular chunks across record borders"),
        pytest.param([STREAM[:3], STREAM[3:-5], STREAM[-5:]], id="record tail arrives in the last chunk"),
        pytest.param([b"", STREAM, b""], id="empty chunks are harmless"),
        pytest.param(
            [
                encode(SUBSCRIBED)[:-1],
                encode(SUBSCRIBED)[-1:] + encode(HEARTBEAT) + encode(UNICODE),
                encode(HEARTBEAT),
            ],
            id="a chunk completes one record and carries two more",
        ),
    ],
)
def test_decodes_records_however_the_stream_is_chunked(pieces: list[bytes]) -> None:
    assert decode_all(pieces) == EXPECTED


def test_huge_record_split_over_many_chunks() -> None:
    huge = b"x" * (10 * 1024 * 1024)
    stream = encode(huge) + encode(HEARTBEAT)
    assert decode_all(chunked(stream, [65536, 1, 1_000_003])) == [huge, HEARTBEAT]


def test_huge_record_in_one_chunk() -> None:
    huge = bytes(range(256)) * 40_000  # 10 MB of every byte value, newlines included
    assert decode_all([encode(huge)]) == [huge]


def test_record_length_counts_bytes_not_characters() -> None:
    assert encode(UNICODE).split(b"\n", 1)[0] == str(len(UNICODE)).encode()
    assert len(UNICODE) > len(UNICODE.decode())


def test_records_come_out_as_soon_as_they_are_complete() -> None:
    decoder = RecordIODecoder()
    assert decoder.feed(b"20\n" + HEARTBEAT[:10]) == []
    assert decoder.buffered == 10
    assert not decoder.at_record_boundary
    assert decoder.feed(HEARTBEAT[10:] + b"2") == [HEARTBEAT]
    assert decoder.feed(b"0\n") == []
    assert decoder.feed(HEARTBEAT) == [HEARTBEAT]
    assert decoder.at_record_boundary


def test_zero_length_record_is_an_empty_record() -> None:
    # The grammar allows it even though Mesos never sends one.
    assert decode_all([b"0\n" + encode(HEARTBEAT)]) == [b"", HEARTBEAT]


def test_leading_zeros_in_length_are_digits_like_any_other() -> None:
    assert decode_all([b"0020\n" + HEARTBEAT]) == [HEARTBEAT]


def test_encode_frames_with_decimal_length_and_newline() -> None:
    assert encode(b"abc") == b"3\nabc"
    assert encode(b"") == b"0\n"


@pytest.mark.parametrize(
    ("pieces", "message"),
    [
        pytest.param([b"abc\n{}"], "malformed record length line", id="letters in length"),
        pytest.param([b"-5\nhello"], "malformed record length line", id="negative length"),
        pytest.param([b"+5\nhello"], "malformed record length line", id="signed length"),
        pytest.param([b" 5\nhello"], "malformed record length line", id="space before length"),
        pytest.param([b"5\r\nhello"], "malformed record length line", id="CRLF line ending"),
        pytest.param([b"1.5\nx"], "malformed record length line", id="fractional length"),
        pytest.param([b"\n5\nhello"], "empty record length line", id="empty length line"),
        pytest.param([b"1" * 21], "malformed record length line", id="more digits than uint64"),
        pytest.param([b"99999999999999999999\n"], "malformed record length line", id="above uint64 max"),
        pytest.param([b"3\nabc", b"xyz\n"], "malformed record length line", id="record longer than stated"),
        pytest.param([b"1", b"2", b"a"], "malformed record length line", id="bad byte in a split line"),
    ],
)
def test_rejects_malformed_length_lines(pieces: list[bytes], message: str) -> None:
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError, match=message):
        for piece in pieces:
            decoder.feed(piece)


def test_rejects_garbage_before_its_newline_arrives() -> None:
    # A never-ending line must not be buffered forever waiting for a newline.
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError):
        decoder.feed(b"<html>" + b"x" * 1_000_000)


def test_rejects_records_above_the_size_limit() -> None:
    decoder = RecordIODecoder(max_record_size=100)
    with pytest.raises(RecordIOError, match="exceeds the limit of 100 bytes"):
        decoder.feed(b"101\n")


def test_a_failed_decoder_refuses_more_input() -> None:
    decoder = RecordIODecoder()
    with pytest.raises(RecordIOError):
        decoder.feed(b"x\n")
    with pytest.raises(RecordIOError, match="already failed"):
        decoder.feed(encode(HEARTBEAT))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"20\n" + HEARTBEAT[:5], "inside a record: got 5 of 20", id="in a record"),
        pytest.param(b"2", "inside a length line", id="in a length line"),
    ],
)
def test_close_reports_a_truncated_stream(data: bytes, message: str) -> None:
    decoder = RecordIODecoder()
    decoder.feed(data)
    with pytest.raises(RecordIOError, match=message):
        decoder.close()
