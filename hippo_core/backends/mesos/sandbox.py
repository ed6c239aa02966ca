"""Reading a task's stdout and stderr from its sandbox, through its agent's files API.

A Docker task's output is in the files ``stdout`` and ``stderr`` of its executor's
sandbox. A command task's executor has the task's id, so the sandbox of attempt
``<attempt>`` of framework ``<fid>`` is attached on its agent as
``/frameworks/<fid>/executors/<attempt>/runs/latest``. Without the framework id (or
when the attempt ran under an earlier framework) the agent's ``/state`` names the
executor's ``directory``, which is attached too.

``GET /files/read?path=&offset=&length=`` (``src/files/files.cpp``) answers
``{"data": ..., "offset": ...}``: ``offset=-1`` gives only the file's size (as
``offset``); otherwise at most 64 KiB of it from ``offset``. ``data`` is the file's
bytes as a raw JSON string, not base64, so a chunk may end inside a UTF-8 sequence or
carry bytes that are not UTF-8 at all: the body is read with ``surrogateescape``,
which turns each such byte back into itself, and the stream is decoded (invalid
bytes replaced) only once whole. A sandbox the agent garbage-collected (after
``--gc_delay``, a week by default, sooner when its disk fills) answers 404.

Following a stream by offset is the same loop from a given offset, without the size
request: :meth:`SandboxReader.read_from`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from hippo_core.backend import LogsUnavailable, LogText

STREAMS = ("stdout", "stderr")
# What one read returns at most per stream; more is cut from the front (the end matters).
MAX_READ_BYTES = 1024 * 1024
# The agent never returns more than 16 pages per call.
CHUNK_BYTES = 64 * 1024


class FileGone(Exception):
    """The agent answered 404: the path is not (or no longer) attached."""


class AgentSilent(LogsUnavailable):
    """No answer from the agent (refused, timed out): perhaps later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


def virtual_sandbox(framework_id: str, executor_id: str) -> str:
    return f"/frameworks/{framework_id}/executors/{executor_id}/runs/latest"


def decode_chunk(body: bytes) -> tuple[int, bytes]:
    """``(offset, data)`` of a ``/files/read`` answer, the data's bytes exactly as in the file."""
    answer = json.loads(body.decode("utf-8", "surrogateescape"))
    return int(answer["offset"]), answer["data"].encode("utf-8", "surrogateescape")


class SandboxReader:
    """Files of sandboxes on one agent after another; calls are independent and thread-safe."""

    def __init__(
        self,
        session: Callable[[], requests.Session],
        auth: requests.auth.AuthBase | None = None,
        timeout: tuple[float, float] = (5.0, 10.0),
    ) -> None:
        self._session = session
        self._auth = auth
        self._timeout = timeout

    def size(self, agent_url: str, path: str) -> int:
        offset, _ = self._chunk(agent_url, path, -1, None)
        return offset

    def read_from(self, agent_url: str, path: str, offset: int, end: int | None = None) -> bytes:
        """The file's bytes from ``offset`` up to ``end`` (its end when None), 64 KiB a call."""
        data = bytearray()
        while end is None or offset < end:
            length = CHUNK_BYTES if end is None else min(CHUNK_BYTES, end - offset)
            _, chunk = self._chunk(agent_url, path, offset, length)
            if not chunk:
                break  # the end of the file (it may have shrunk meanwhile)
            data += chunk
            offset += len(chunk)
        return bytes(data)

    def tail(self, agent_url: str, path: str, limit: int) -> LogText:
        """The last ``limit`` bytes of the file, with its size."""
        size = self.size(agent_url, path)
        start = max(0, size - limit)
        data = self.read_from(agent_url, path, start, size) if start < size else b""
        return LogText(data.decode("utf-8", errors="replace"), size, start > 0)

    def state(self, agent_url: str) -> dict[str, Any]:
        response = self._get(agent_url, "/state", {})
        if response.status_code != 200:
            raise LogsUnavailable(
                f"the agent at {agent_url} answered /state with HTTP {response.status_code}: "
                f"{response.text.strip()[:200] or response.reason}"
            )
        try:
            return dict(response.json())
        except (ValueError, TypeError) as exc:
            raise LogsUnavailable(
                f"the agent at {agent_url} answered /state with no JSON object: {exc}"
            ) from exc

    def _chunk(self, agent_url: str, path: str, offset: int, length: int | None) -> tuple[int, bytes]:
        body = self._files_read(agent_url, path, offset, length)
        try:
            return decode_chunk(body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LogsUnavailable(
                f"the agent at {agent_url} answered /files/read for {path} with no files API answer: "
                f"{body[:200]!r}"
            ) from exc

    def _files_read(self, agent_url: str, path: str, offset: int, length: int | None) -> bytes:
        params: dict[str, Any] = {"path": path, "offset": offset}
        if length is not None:
            params["length"] = length
        response = self._get(agent_url, "/files/read", params)
        if response.status_code == 404:
            raise FileGone(path)
        if response.status_code != 200:
            raise LogsUnavailable(
                f"the agent at {agent_url} refused to read {path}: HTTP {response.status_code} "
                f"{response.text.strip()[:200] or response.reason}"
            )
        return response.content

    def _get(self, agent_url: str, endpoint: str, params: dict[str, Any]) -> requests.Response:
        try:
            return self._session().get(
                agent_url + endpoint, params=params, auth=self._auth, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise AgentSilent(f"the agent at {agent_url} did not answer: {exc}") from exc


def find_directory(state: dict[str, Any], executor_id: str) -> str | None:
    """The sandbox directory of ``executor_id`` in an agent's ``/state`` (the newest run)."""
    for framework in [*state.get("frameworks", []), *state.get("completed_frameworks", [])]:
        for executor in [*framework.get("executors", []), *framework.get("completed_executors", [])]:
            if executor.get("id") == executor_id and executor.get("directory"):
                return str(executor["directory"])
    return None
