"""``MesosMasterPeer``: a Mesos master speaking the v1 scheduler HTTP API on a real socket."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from hippo_mesos_peer.behaviors import Behavior, TaskPredicate, check_behavior
from hippo_mesos_peer.cluster import AgentRecord, OfferRecord, SimAgent
from hippo_mesos_peer.frameworks import SimFramework
from hippo_mesos_peer.master import Master
from hippo_mesos_peer.protocol import is_terminal
from hippo_mesos_peer.replies import Reply
from hippo_mesos_peer.sandbox import Sandbox
from hippo_mesos_peer.server import HttpFrontend
from hippo_mesos_peer.tasks import SimTask


class PeerError(AssertionError):
    """The peer itself failed (a timer callback or a task rule raised)."""


class MesosMasterPeer:
    """A leading Mesos master with simulated agents, for tests and benchmarks.

    The endpoint is ``url + "/api/v1/scheduler"``. Every property returns a
    snapshot taken under the peer's lock; ``SimTask``/``SimFramework`` objects in
    it are live and keep changing.
    """

    def __init__(
        self,
        agents: list[SimAgent] | None = None,
        *,
        heartbeat_interval: float = 15.0,
        allocation_interval: float = 0.1,
        failover_timeout_cap: float | None = None,
        default_behavior: Behavior | None = None,
        status_update_retry: float = 0.5,
        status_update_retry_max: float | None = None,
        offer_timeout: float | None = None,
        launch_delay: float = 0.0,
        kill_delay: float = 0.0,
        record_events: bool = True,
        credentials: Mapping[str, str] | None = None,
        root_submissions: bool = True,
        recovery_seconds: float = 0.1,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self._master = Master(
            agents=list(agents) if agents is not None else [SimAgent(hostname="agent1")],
            heartbeat_interval=heartbeat_interval,
            allocation_interval=allocation_interval,
            failover_timeout_cap=failover_timeout_cap,
            default_behavior=default_behavior,
            status_update_retry=status_update_retry,
            status_update_retry_max=status_update_retry_max,
            offer_timeout=offer_timeout,
            launch_delay=launch_delay,
            kill_delay=kill_delay,
            record_events=record_events,
            credentials=credentials,
            root_submissions=root_submissions,
            recovery_seconds=recovery_seconds,
        )
        self._host = host
        self._port = port
        self._frontend: HttpFrontend | None = None
        self._agent_frontends: dict[str, HttpFrontend] = {}

    # -- life --------------------------------------------------------------------------

    def start(self) -> MesosMasterPeer:
        if self._frontend is not None:
            raise RuntimeError("the Mesos test peer is already started")
        master = self._master
        self._frontend = HttpFrontend(master.handle, self._host, self._port, master.stream_closed, "master")
        with master.lock:
            master.host, master.port = self._frontend.host, self._frontend.port
            for agent in master.agents.values():
                self._serve_agent(agent)
            master.clock.start()
            master.start_allocation()
        self._frontend.start()
        return self

    def _serve_agent(self, agent: AgentRecord) -> None:
        """Start the agent's own HTTP API (files, state) on a port of its own."""
        master = self._master

        def handle(method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
            return master.handle_agent(agent.agent_id, method, target, headers, body)

        frontend = HttpFrontend(handle, self._host, 0, name=f"agent-{agent.hostname}")
        agent.ip, agent.port = frontend.host, frontend.port
        self._agent_frontends[agent.agent_id] = frontend
        frontend.start()

    def _stop_agent(self, agent_id: str) -> None:
        frontend = self._agent_frontends.pop(agent_id, None)
        if frontend is not None:
            frontend.stop()

    def stop(self) -> None:
        """Stop serving; raises :class:`PeerError` if the peer failed internally meanwhile."""
        if self._frontend is None:
            return
        with self._master.lock:
            for framework in self._master.frameworks.values():
                if framework.stream is not None:
                    framework.stream.close(abrupt=True)
        self._frontend.stop()
        for agent_id in list(self._agent_frontends):
            self._stop_agent(agent_id)
        self._master.clock.stop()
        self._frontend = None
        self.raise_internal_errors()

    def __enter__(self) -> MesosMasterPeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._frontend is None:
            raise RuntimeError("start() the Mesos test peer before asking for its url")
        return f"http://{self._frontend.host}:{self._frontend.port}"

    @property
    def scheduler_url(self) -> str:
        return self.url + "/api/v1/scheduler"

    @property
    def master_id(self) -> str:
        return self._master.master_id

    @property
    def recovered(self) -> bool:
        """Leading and done reading the registry (scheduler calls get no more 503)."""
        with self._master.lock:
            return self._master.leading and time.monotonic() >= self._master.recovered_at

    # -- scripting ---------------------------------------------------------------------

    def add_rule(self, predicate: TaskPredicate, behavior: Behavior) -> None:
        """Tasks whose ``TaskInfo`` ``predicate`` accepts behave as ``behavior`` (first match wins)."""
        if not callable(predicate):
            raise TypeError(f"add_rule: predicate must be callable, got {predicate!r}")
        with self._master.lock:
            self._master.rules.append((predicate, check_behavior(behavior)))

    def clear_rules(self) -> None:
        with self._master.lock:
            self._master.rules.clear()

    # -- the books ---------------------------------------------------------------------

    @property
    def tasks(self) -> dict[str, SimTask]:
        """task id -> the latest launch of that id."""
        with self._master.lock:
            return {task.task_id: task for task in self._master.launches}

    @property
    def launches(self) -> list[SimTask]:
        with self._master.lock:
            return list(self._master.launches)

    def launch_count(self, task_id: str) -> int:
        with self._master.lock:
            return sum(1 for task in self._master.launches if task.task_id == task_id)

    def max_active(self, label_key: str, label_value: str) -> int:
        """Most tasks labelled ``label_key=label_value`` that were non-terminal at one moment."""
        with self._master.lock:
            changes: list[tuple[float, int]] = []
            for task in self._master.launches:
                if task.labels.get(label_key) != label_value:
                    continue
                active = False
                for state, at in task.history:
                    now_active = not is_terminal(state)
                    if now_active != active:
                        changes.append((at, 1 if now_active else -1))
                        active = now_active
        peak = current = 0
        for _, delta in sorted(changes):
            current += delta
            peak = max(peak, current)
        return peak

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(call type, JSON body) of every request whose body was a JSON object, in order."""
        with self._master.lock:
            return list(self._master.calls)

    @property
    def responses(self) -> list[tuple[str, int, str]]:
        """(call type, HTTP status, body) of every request answered, in order."""
        with self._master.lock:
            return list(self._master.responses)

    @property
    def agent_requests(self) -> list[tuple[str, str, str]]:
        """(agent hostname, method, path and query) of every request to an agent's own API."""
        with self._master.lock:
            return list(self._master.agent_requests)

    @property
    def sent(self) -> list[tuple[str, dict[str, Any]]]:
        """(framework id, event) of every event written to a subscription stream."""
        with self._master.lock:
            return list(self._master.sent)

    @property
    def notes(self) -> list[str]:
        """Calls the master accepted but ignored, and why (unknown offers, stale acks, ...)."""
        with self._master.lock:
            return list(self._master.notes)

    @property
    def refused_launches(self) -> list[tuple[str, str, str, str]]:
        """(task id, state, reason, message) of every task an ACCEPT did not launch."""
        with self._master.lock:
            return list(self._master.refused_launches)

    def unacknowledged(self, framework_id: str | None = None) -> list[dict[str, Any]]:
        """Status updates sent with a uuid and not acknowledged yet (one per task at most)."""
        with self._master.lock:
            return [
                dict(task.pending[0].status)
                for task in self._master.tasks.values()
                if task.pending and task.pending[0].sent and framework_id in (None, task.framework_id)
            ]

    @property
    def frameworks(self) -> dict[str, SimFramework]:
        """Frameworks the master knows (removed ones are in :attr:`removed_frameworks`)."""
        with self._master.lock:
            return dict(self._master.frameworks)

    @property
    def removed_frameworks(self) -> dict[str, SimFramework]:
        with self._master.lock:
            return dict(self._master.removed_frameworks)

    @property
    def agents(self) -> dict[str, AgentRecord]:
        with self._master.lock:
            return dict(self._master.agents)

    @property
    def offers(self) -> dict[str, OfferRecord]:
        """Outstanding offers by offer id."""
        with self._master.lock:
            return dict(self._master.offers)

    def agent_url(self, hostname_or_id: str) -> str:
        """``http://ip:port`` of the agent's own HTTP API (``/files/read``, ``/state``)."""
        with self._master.lock:
            agent = self._master.find_agent(hostname_or_id)
            return f"http://{agent.ip}:{agent.port}"

    def output(self, task_id: str, stream: str = "stdout") -> bytes:
        """What the latest launch of ``task_id`` has written to ``stream`` so far."""
        sandbox = self._sandbox(task_id)
        with self._master.lock:
            return bytes(sandbox.files[stream])

    def write_output(self, task_id: str, stream: str, data: str | bytes) -> None:
        """Append to the sandbox file ``stream`` (stdout, stderr) of the latest launch of ``task_id``."""
        sandbox = self._sandbox(task_id)
        with self._master.lock:
            sandbox.write(stream, data)

    def garbage_collect(self, task_id: str) -> None:
        """The agent garbage-collects the sandbox of the latest launch of ``task_id``: the
        files API answers 404 for it from now on."""
        sandbox = self._sandbox(task_id)
        with self._master.lock:
            self._master.agents[sandbox.agent_id].sandboxes.detach(sandbox)

    def _sandbox(self, task_id: str) -> Sandbox:
        task = self.tasks.get(task_id)
        if task is None or task.sandbox is None:
            raise KeyError(
                f"task {task_id!r} has no sandbox (never launched, or not delivered to its agent yet)"
            )
        return task.sandbox

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll ``predicate`` (run under the peer's lock: read the books, do not call the peer
        over HTTP in it) until it is true; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._master.lock:
                if predicate():
                    return
            self.raise_internal_errors()
            if time.monotonic() > deadline:
                name = getattr(predicate, "__name__", repr(predicate))
                raise TimeoutError(
                    f"Mesos test peer: {name} still false after {timeout}s; "
                    f"last calls: {[c for c, _ in self.calls[-10:]]}; notes: {self.notes[-5:]}"
                )
            time.sleep(0.01)

    def raise_internal_errors(self) -> None:
        """Raise :class:`PeerError` for failures inside the peer not reported yet."""
        with self._master.lock:
            errors = list(self._master.errors)
            self._master.errors.clear()
        if errors:
            details = "".join(
                "".join(traceback.format_exception(type(e), e, e.__traceback__)) for e in errors
            )
            raise PeerError(f"the Mesos test peer failed internally:\n{details}")

    # -- faults ------------------------------------------------------------------------

    def drop_subscriptions(self) -> None:
        """Break every subscription connection (no final chunk); frameworks must resubscribe."""
        with self._master.lock:
            self._master.drop_subscriptions()

    def remove_agent(self, hostname_or_id: str) -> None:
        """As ``MARK_AGENT_GONE``: the agent is shut down, its HTTP API with it."""
        with self._master.lock:
            agent_id = self._master.find_agent(hostname_or_id).agent_id
            self._master.remove_agent(hostname_or_id)
        self._stop_agent(agent_id)

    def partition_agent(self, hostname_or_id: str) -> None:
        with self._master.lock:
            self._master.partition_agent(hostname_or_id)

    def heal_agent(self, hostname_or_id: str) -> None:
        with self._master.lock:
            self._master.heal_agent(hostname_or_id)

    def silence_agent(self, hostname_or_id: str) -> None:
        """The agent's own HTTP API stops answering (connections are refused) while the master
        still lists it and its tasks go on: a hung agent process, a firewall in between."""
        with self._master.lock:
            agent_id = self._master.find_agent(hostname_or_id).agent_id
        self._stop_agent(agent_id)

    def add_agent(self, agent: SimAgent) -> AgentRecord:
        with self._master.lock:
            record = self._master.add_agent(agent)
            if self._frontend is not None:
                self._serve_agent(record)
            return record

    def restart(self, agent_reregister_delay: float = 0.0) -> None:
        """Master failover: connections drop, state held in memory is lost; the new leader
        answers scheduler calls 503 for ``recovery_seconds``, then agents reregister."""
        with self._master.lock:
            self._master.restart(agent_reregister_delay)

    def set_leader(
        self, leading: bool, leader_url: str | None = None, agent_reregister_delay: float = 0.0
    ) -> None:
        """Not leading: every request gets 307 to ``leader_url`` (503 without one)."""
        with self._master.lock:
            if not leading:
                self._master.lose_leadership(leader_url)
            elif not self._master.leading:
                self._master.become_leader(agent_reregister_delay)

    def rescind_offers(self) -> None:
        with self._master.lock:
            self._master.rescind_all_offers()
