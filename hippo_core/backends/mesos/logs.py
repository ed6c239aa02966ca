"""Task logs of Mesos attempts: their agent found through the master, their sandbox read over HTTP.

``read`` answers what the API's ``/tasks/{id}/logs/`` shows: the end of an attempt's
stdout and stderr (the last ``tail`` bytes, at most a MiB each), or, when they cannot
be read, :class:`~hippo_core.backend.LogsUnavailable` saying why: the agent left the
cluster, its sandbox was garbage-collected, or the agent did not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hippo_core.backend import LOG_CHUNK_BYTES, AttemptLogs, LogsUnavailable, LogText, read_text
from hippo_core.backends.mesos.agents import AgentAddress, AgentDirectory
from hippo_core.backends.mesos.sandbox import (
    MAX_READ_BYTES,
    STREAMS,
    AgentSilent,
    FileGone,
    SandboxReader,
    find_directory,
    virtual_sandbox,
)

GC_HINT = (
    "Mesos removes a sandbox --gc_delay after its executor ends (a week by default, sooner when "
    "the agent's disk fills)"
)


class MesosLogs:
    def __init__(
        self, agents: AgentDirectory, reader: SandboxReader, framework_id: Callable[[], str | None]
    ) -> None:
        self.agents = agents
        self.reader = reader
        self.framework_id = framework_id

    def read(
        self,
        attempt_id: str,
        agent_id: str | None,
        tail: int | None = None,
        offset: Mapping[str, int] | None = None,
    ) -> AttemptLogs | None:
        """Both streams of the attempt (or with ``offset`` those it names, from there on:
        ``Backend.read_logs``), ``None`` if it never reached an agent."""
        if agent_id is None:
            return None
        limit = MAX_READ_BYTES if tail is None else max(0, min(tail, MAX_READ_BYTES))
        agent = self.agents.address(agent_id)
        try:
            return self._read(agent, attempt_id, limit, offset)
        except AgentSilent as exc:
            # Perhaps it moved (a new ip after a restart): ask the master again next time.
            self.agents.forget(agent_id)
            raise LogsUnavailable(
                f"the agent {agent.hostname} ({agent.url}) that ran attempt {attempt_id} did not answer: "
                f"{exc}; try again later",
                transient=True,
            ) from exc

    def _read(
        self, agent: AgentAddress, attempt_id: str, limit: int, offset: Mapping[str, int] | None = None
    ) -> AttemptLogs:
        framework_id = self.framework_id()
        if framework_id:
            try:
                sandbox = virtual_sandbox(framework_id, attempt_id)
                return self._streams(agent, attempt_id, sandbox, limit, offset)
            except FileGone:
                pass  # an earlier framework's attempt, or collected: the agent's state tells
        directory = find_directory(self.reader.state(agent.url), attempt_id)
        if directory is None:
            raise LogsUnavailable(
                f"the agent {agent.hostname} ({agent.agent_id}) has no sandbox of attempt {attempt_id} "
                f"any more: it was garbage-collected ({GC_HINT}), or the attempt never started there"
            )
        try:
            return self._streams(agent, attempt_id, directory, limit, offset)
        except FileGone:
            raise LogsUnavailable(
                f"the sandbox of attempt {attempt_id} on agent {agent.hostname} ({directory}) was "
                f"garbage-collected: {GC_HINT}"
            ) from None

    def _streams(
        self,
        agent: AgentAddress,
        attempt_id: str,
        sandbox: str,
        limit: int,
        offset: Mapping[str, int] | None = None,
    ) -> AttemptLogs:
        offset = offset or {}
        unknown = set(offset) - set(STREAMS)
        if unknown:
            raise ValueError(f"no stream {', '.join(sorted(unknown))}; streams: {', '.join(STREAMS)}")
        read: dict[str, LogText | None] = {}
        for stream in STREAMS:
            path = f"{sandbox}/{stream}"
            try:
                if stream in offset:
                    read[stream] = self._read_from(agent, path, stream, offset[stream])
                else:
                    read[stream] = self.reader.tail(agent.url, path, limit)
            except FileGone:
                if offset.get(stream):
                    raise ValueError(
                        f"offset {offset[stream]} is past the end of {stream} (0 bytes)"
                    ) from None
                read[stream] = None
        if all(text is None for text in read.values()):
            raise FileGone(sandbox)
        empty = LogText("", 0, False)
        return AttemptLogs(attempt_id, read["stdout"] or empty, read["stderr"] or empty)

    def _read_from(self, agent: AgentAddress, path: str, stream: str, start: int) -> LogText:
        """A follower's next read of one stream: from ``start`` on, at most ``LOG_CHUNK_BYTES``."""
        size = self.reader.size(agent.url, path)
        if start > size:
            raise ValueError(f"offset {start} is past the end of {stream} ({size} bytes)")
        end = min(size, start + LOG_CHUNK_BYTES)
        data = self.reader.read_from(agent.url, path, start, end) if start < end else b""
        return read_text(data, size, start)
