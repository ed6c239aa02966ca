"""RecordIO, the framing of the Mesos event stream: ``<decimal length>\\n<bytes>``.

The grammar (Mesos docs, "RecordIO Data Format")::

    records     = *record
    record      = record-size LF record-data
    record-size = 1*DIGIT            ; an unsigned 64-bit integer
    record-data = record-size(OCTET)

HTTP chunk boundaries carry no meaning: a record may arrive split over many chunks,
a chunk may hold several records, and the length line itself may be split. The
decoder therefore keeps its state between :meth:`RecordIODecoder.feed` calls.
Pure: no I/O.
"""

from __future__ import annotations

UINT64_MAX = 2**64 - 1
# A uint64 has at most 20 decimal digits; a longer length line is garbage, and
# failing at once beats buffering an endless line while waiting for its newline.
MAX_LENGTH_DIGITS = 20
DEFAULT_MAX_RECORD_SIZE = 512 * 1024 * 1024


class RecordIOError(ValueError):
    """The byte stream is not valid RecordIO; the stream cannot be resynchronised."""


def encode(record: bytes) -> bytes:
    """Frame one record: its length in decimal, a newline, then the bytes."""
    return str(len(record)).encode("ascii") + b"\n" + bytes(record)


class RecordIODecoder:
    """Incremental decoder: feed it bytes as they arrive, get complete records back.

    After a :class:`RecordIOError` the decoder refuses further input: once the
    framing is lost there is no way to find the start of the next record.
    """

    def __init__(self, max_record_size: int = DEFAULT_MAX_RECORD_SIZE) -> None:
        if max_record_size < 0:
            raise ValueError(f"max_record_size must be >= 0, got {max_record_size}")
        self._max_record_size = max_record_size
        self._length_line = bytearray()
        # While reading a record body: the pieces received so far and how many
        # bytes are still missing. Pieces are joined once, when the record is
        # complete, so a large record costs no repeated copying.
        self._parts: list[bytes] = []
        self._missing: int | None = None
        self._offset = 0  # absolute position in the stream, for error messages
        self._failed: RecordIOError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a complete record."""
        return len(self._length_line) + sum(len(part) for part in self._parts)

    @property
    def at_record_boundary(self) -> bool:
        """True when no partial record is pending (a clean place for the stream to end)."""
        return self._missing is None and not self._length_line

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data`` and return every record it completes, in order."""
        if self._failed is not None:
            raise RecordIOError(f"decoder already failed: {self._failed}")
        records: list[bytes] = []
        view = memoryview(data)
        pos = 0
        try:
            while pos < len(view):
                if self._missing is None:
                    pos = self._read_length(view, pos)
                    if self._missing == 0:
                        records.append(b"")
                        self._missing = None
                    continue
                take = min(self._missing, len(view) - pos)
                self._parts.append(bytes(view[pos : pos + take]))
                self._missing -= take
                pos += take
                self._offset += take
                if self._missing == 0:
                    records.append(b"".join(self._parts))
                    self._parts = []
                    self._missing = None
        except RecordIOError as exc:
            self._failed = exc
            raise
        return records

    def close(self) -> None:
        """Declare the end of the stream; raise if it stopped inside a record."""
        if self._failed is not None:
            raise RecordIOError(f"decoder already failed: {self._failed}")
        if self._missing is not None:
            got = sum(len(part) for part in self._parts)
            raise RecordIOError(f"stream ended inside a record: got {got} of {got + self._missing} bytes")
        if self._length_line:
            raise RecordIOError(f"stream ended inside a length line: {bytes(self._length_line)!r}")

    def _read_length(self, view: memoryview, pos: int) -> int:
        """Consume length-line bytes from ``pos``; set ``_missing`` once the line is whole."""
        newline = _find_newline(view, pos)
        # Without a newline in reach, take just enough to prove the line too long.
        end = newline if newline >= 0 else min(len(view), pos + MAX_LENGTH_DIGITS + 1)
        self._length_line += view[pos:end]
        self._offset += end - pos
        # Report before the newline arrives: a bad line can never become good.
        if len(self._length_line) > MAX_LENGTH_DIGITS or (
            self._length_line and not self._length_line.isdigit()
        ):
            raise RecordIOError(self._describe_bad_line())
        if newline < 0:
            return end
        if not self._length_line:
            raise RecordIOError(f"empty record length line at byte {self._offset}: expected decimal digits")
        length = int(self._length_line)
        if length > UINT64_MAX:
            raise RecordIOError(self._describe_bad_line())
        if length > self._max_record_size:
            raise RecordIOError(
                f"record length {length} at byte {self._offset} exceeds the limit of "
                f"{self._max_record_size} bytes"
            )
        self._length_line.clear()
        self._missing = length
        self._offset += 1  # the newline
        return newline + 1

    def _describe_bad_line(self) -> str:
        shown = bytes(self._length_line[:40])
        return (
            f"malformed record length line {shown!r} ending at byte {self._offset}: "
            f"expected 1 to {MAX_LENGTH_DIGITS} decimal digits (an unsigned 64-bit "
            "integer) followed by a newline"
        )


def _find_newline(view: memoryview, start: int) -> int:
    # memoryview has no find(); the length line is at most 21 bytes, so look
    # only that far instead of copying the whole (possibly huge) chunk.
    window = bytes(view[start : start + MAX_LENGTH_DIGITS + 1])
    index = window.find(b"\n")
    return -1 if index < 0 else start + index
