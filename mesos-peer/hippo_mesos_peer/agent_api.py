"""Each simulated agent's own HTTP API: the files endpoints and ``/state``.

Follows ``src/files/files.cpp`` and the agent's ``/state`` (``src/slave/http.cpp``):

- ``GET /files/read?path=&offset=&length=``: ``{"data": ..., "offset": ...}`` with the
  bytes as a raw JSON string (not base64; a split or invalid UTF-8 sequence goes out
  as it is, as rapidjson writes it). ``offset`` omitted (or ``-1``) gives no data and
  the file's size as ``offset``; ``length`` omitted or ``-1`` reads to the end; at
  most 16 pages (64 KiB) per call. Missing ``path``: 400; a bad ``offset`` or
  ``length``: 400; a directory: 400; a path that is not attached (never was, or its
  sandbox was garbage-collected): 404 with an empty body;
- ``GET /files/browse?path=``: the directory's files as FileInfo objects (a file's
  path lists nothing), with the same 400/404;
- ``GET /files/download?path=``: the raw bytes;
- ``GET /state`` (also ``/slave(1)/state``): the agent's id, ``pid``, and its
  frameworks with their executors (``directory`` is the sandbox), running under
  ``executors``, ended under ``completed_executors``; removed frameworks under
  ``completed_frameworks``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hippo_mesos_peer.calls import CallRejected
from hippo_mesos_peer.cluster import AgentRecord
from hippo_mesos_peer.protocol import MESOS_VERSION, is_terminal
from hippo_mesos_peer.replies import JSON, Reply
from hippo_mesos_peer.sandbox import Sandbox

PAGE = 4096
MAX_READ = 16 * PAGE
STATE_PATHS = frozenset({"/state", "/slave(1)/state"})


def json_bytes_string(data: bytes) -> bytes:
    """``data`` as a JSON string the way rapidjson writes it: quotes, backslashes and
    control characters escaped, every other byte as it is (UTF-8 or not)."""
    out = bytearray(b'"')
    short = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}
    for byte in data:
        if byte == 0x22:
            out += b'\\"'
        elif byte == 0x5C:
            out += b"\\\\"
        elif byte < 0x20:
            out += short.get(byte) or f"\\u{byte:04X}".encode("ascii")
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


def _numify(name: str, text: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise CallRejected(400, f"Failed to parse {name}: Failed to convert '{text}' to number.\n") from None


class AgentApiMixin:
    def handle_agent(
        self, agent_id: str, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Answer one request to the agent ``agent_id``'s HTTP API."""
        parts = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        with self.lock:
            agent = self.agents[agent_id]
            self.agent_requests.append((agent.hostname, method, target))
            try:
                return self._agent_route(agent, method, parts.path, query)
            except CallRejected as rejected:
                headers_out = {"Content-Type": "text/plain; charset=utf-8", **rejected.headers}
                return Reply(rejected.status, headers_out, rejected.message.encode("utf-8"))

    def _agent_route(self, agent: AgentRecord, method: str, path: str, query: dict[str, str]) -> Reply:
        routes = {
            "/files/read": self._files_read,
            "/files/browse": self._files_browse,
            "/files/download": self._files_download,
        }
        if path in STATE_PATHS:
            return Reply(200, {"Content-Type": JSON}, json.dumps(self._agent_state(agent)).encode())
        if path not in routes:
            raise CallRejected(404, "")
        if method not in ("GET", "HEAD", "POST"):
            raise CallRejected(405, f"Expecting one of {{ 'GET', 'POST' }}, but received '{method}'")
        return routes[path](agent, query)

    @staticmethod
    def _resolve(agent: AgentRecord, query: dict[str, str]) -> tuple[Sandbox, str]:
        path = query.get("path", "")
        if not path:
            raise CallRejected(400, "Expecting 'path=value' in query.\n")
        try:
            found = agent.sandboxes.resolve(path)
        except ValueError as exc:
            raise CallRejected(400, f"{exc}.\n") from exc
        if found is None:
            raise CallRejected(404, "")
        return found

    def _files_read(self, agent: AgentRecord, query: dict[str, str]) -> Reply:
        offset = -1
        if "offset" in query:
            offset = _numify("offset", query["offset"])
            if offset < -1:
                raise CallRejected(400, f"Negative offset provided: {offset}.\n")
        length: int | None = None
        if "length" in query:
            asked = _numify("length", query["length"])
            if asked < -1:
                raise CallRejected(400, f"Negative length provided: {asked}.\n")
            length = asked if asked > -1 else None
        sandbox, name = self._resolve(agent, query)
        if not name:
            raise CallRejected(400, "Cannot read a directory.\n")
        if name not in sandbox.files:
            raise CallRejected(404, "")
        content = sandbox.files[name]
        if offset == -1:
            start, length, answered = 0, 0, len(content)
        else:
            start, answered = offset, offset
        if start >= len(content) or length == 0:
            data = b""
        else:
            wanted = len(content) - start if length is None else length
            data = bytes(content[start : start + min(wanted, MAX_READ)])
        body = b'{"data":' + json_bytes_string(data) + b',"offset":' + str(answered).encode() + b"}"
        return Reply(200, {"Content-Type": JSON}, body)

    def _files_browse(self, agent: AgentRecord, query: dict[str, str]) -> Reply:
        sandbox, name = self._resolve(agent, query)
        listing: list[dict[str, Any]] = []
        if not name:
            base = query["path"].rstrip("/")
            listing = [
                {
                    "path": f"{base}/{stream}",
                    "nlink": 1,
                    "size": len(content),
                    "mtime": int(sandbox.mtimes[stream]),
                    "mode": "-rw-r--r--",
                    "uid": "root",
                    "gid": "root",
                }
                for stream, content in sorted(sandbox.files.items())
            ]
        elif name not in sandbox.files:
            raise CallRejected(404, "")
        return Reply(200, {"Content-Type": JSON}, json.dumps(listing).encode())

    def _files_download(self, agent: AgentRecord, query: dict[str, str]) -> Reply:
        sandbox, name = self._resolve(agent, query)
        if not name:
            raise CallRejected(400, "Cannot download a directory.\n")
        if name not in sandbox.files:
            raise CallRejected(404, "")
        return Reply(200, {"Content-Type": "application/octet-stream"}, bytes(sandbox.files[name]))

    def _agent_state(self, agent: AgentRecord) -> dict[str, Any]:
        frameworks: dict[str, dict[str, Any]] = {}
        for sandbox in agent.sandboxes.runs:
            framework_id = sandbox.framework_id
            entry = frameworks.get(framework_id)
            if entry is None:
                info = self.agent_framework_infos.get(framework_id, {})
                entry = frameworks[framework_id] = {
                    "id": framework_id,
                    "name": info.get("name", ""),
                    "user": info.get("user", ""),
                    "executors": [],
                    "completed_executors": [],
                }
            task = self.tasks.get((framework_id, sandbox.executor_id))
            ended = task is None or is_terminal(task.agent_state)
            entry["completed_executors" if ended else "executors"].append(self._executor_json(sandbox, task))
        return {
            "version": MESOS_VERSION,
            "id": agent.agent_id,
            "pid": agent.pid,
            "hostname": agent.hostname,
            "frameworks": [f for fid, f in frameworks.items() if fid not in self.removed_frameworks],
            "completed_frameworks": [f for fid, f in frameworks.items() if fid in self.removed_frameworks],
        }

    @staticmethod
    def _executor_json(sandbox: Sandbox, task: Any) -> dict[str, Any]:
        task_json = []
        if task is not None:
            task_json = [
                {
                    "id": task.task_id,
                    "name": task.task_info.get("name", ""),
                    "framework_id": task.framework_id,
                    "executor_id": "",
                    "slave_id": task.agent_id,
                    "state": task.agent_state,
                }
            ]
        ended = task is None or is_terminal(task.agent_state)
        return {
            "id": sandbox.executor_id,
            "name": f"Command Executor (Task: {sandbox.executor_id})",
            "source": sandbox.executor_id,
            "container": sandbox.container_id,
            "directory": sandbox.directory,
            "type": "DEFAULT",
            "tasks": [] if ended else task_json,
            "queued_tasks": [],
            "completed_tasks": task_json if ended else [],
        }
