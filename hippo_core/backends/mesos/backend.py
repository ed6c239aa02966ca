"""The ``mesos`` backend: Hippo's scheduler on a Mesos cluster, over the v1 HTTP API.

Settings (constructor arguments):

- ``masters``: the masters' HTTP addresses, ``host:5050`` or ``http(s)://host:5050``,
  as a list or one comma-separated string; any of them may be a standby, Hippo
  follows the redirect to the leader and tries the next one when one is down.
- ``framework_name`` (``"hippo"``), ``user`` (the Unix user tasks run as; by default
  the user Hippo runs as, since masters started with ``--root_submissions=false``
  refuse root), ``role`` (``"*"``): how the framework appears to Mesos.
- ``failover_timeout`` (604800 s = one week): how long Mesos keeps the framework's
  tasks running while no scheduler is subscribed.
- ``principal`` / ``secret``: credentials for masters that require framework
  authentication (HTTP Basic); ``principal`` alone only names the framework.
- ``heartbeat_timeout_factor`` (5): the subscription counts as dead after this many
  heartbeat intervals without any event.
- further keyword arguments go to :class:`MesosSchedulerDriver` (timeouts, backoff).

The framework subscribes with the MULTI_ROLE, PARTITION_AWARE and TASK_KILLING_STATE
capabilities and checkpointing on, so tasks survive agent restarts, partitioned tasks
are reported as TASK_UNREACHABLE rather than killed, and a kill in progress shows as
TASK_KILLING.

Outside a term (the API's backend, never started) it validates definitions against
what Mesos would refuse (:mod:`.rules`) and reads attempts' stdout and stderr from
their agents' sandboxes (:mod:`.logs`), learning the framework id from Redis through
``use_framework_id``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import requests

from hippo_core.backend import (
    AttemptLogs,
    Backend,
    BackendError,
    NotConnected,
    SchedulerCallbacks,
    TaskLaunch,
)
from hippo_core.backends.mesos import rules
from hippo_core.backends.mesos.agents import AgentDirectory
from hippo_core.backends.mesos.client import MesosSchedulerDriver, Scheduler
from hippo_core.backends.mesos.errors import MesosError, NotSubscribedError
from hippo_core.backends.mesos.logs import MesosLogs
from hippo_core.backends.mesos.sandbox import SandboxReader
from hippo_core.backends.mesos.settings import MesosSettings, running_user
from hippo_core.backends.mesos.taskinfo import (
    TaskInfoError,
    offer_from_json,
    status_from_json,
    task_info,
)
from hippo_core.config import Config
from hippo_core.errors import FieldError

log = logging.getLogger(__name__)

T = TypeVar("T")


class MesosBackend(Backend):
    """Offers, launches, kills and status updates through a Mesos master."""

    name = "mesos"
    settings = MesosSettings

    def __init__(
        self,
        masters: Sequence[str] | str,
        *,
        framework_name: str = "hippo",
        user: str | None = None,
        role: str = "*",
        failover_timeout: float = 604800.0,
        principal: str | None = None,
        secret: str | None = None,
        heartbeat_timeout_factor: float = 5,
        **driver_options: Any,
    ) -> None:
        if isinstance(masters, str):
            masters = [m for m in (part.strip() for part in masters.split(",")) if m]
        if not masters:
            raise ValueError("the mesos backend needs at least one master address")
        self.masters = list(masters)
        self.role = role
        self.framework_info: dict[str, Any] = {
            "user": user or running_user(),
            "name": framework_name,
            "roles": [role],
            "failover_timeout": float(failover_timeout),
            "checkpoint": True,
            "capabilities": [
                {"type": "MULTI_ROLE"},
                {"type": "PARTITION_AWARE"},
                {"type": "TASK_KILLING_STATE"},
            ],
        }
        self._principal = principal
        self._secret = secret
        self._heartbeat_timeout_factor = heartbeat_timeout_factor
        self._driver_options = driver_options
        self._driver: MesosSchedulerDriver | None = None
        self._lock = threading.Lock()
        self._framework_id_lookup: Callable[[], str | None] | None = None
        self._sessions = threading.local()
        self._logs: MesosLogs | None = None

    @classmethod
    def from_config(cls, config: Config) -> MesosBackend:
        """The backend for Hippo's settings: the ``[mesos]`` table (:class:`MesosSettings`)."""
        settings = config.section(MesosSettings)
        return cls(
            settings.masters,
            framework_name=settings.framework_name,
            user=settings.user,
            role=settings.role,
            failover_timeout=settings.failover_timeout,
            principal=settings.principal,
            secret=settings.secret,
        )

    @property
    def framework_id(self) -> str | None:
        """The id Mesos gave the framework, once subscribed (persist it to fail over)."""
        driver = self._driver
        return driver.framework_id if driver is not None else None

    @property
    def driver(self) -> MesosSchedulerDriver | None:
        return self._driver

    def start(self, callbacks: SchedulerCallbacks, framework_id: str | None) -> None:
        with self._lock:
            if self._driver is not None and not self._driver.join(0):
                raise BackendError("the mesos backend is already started; stop() it first")
            self._driver = MesosSchedulerDriver(
                _CallbackAdapter(callbacks, roles=(self.role,)),
                self.masters,
                self.framework_info,
                framework_id,
                principal=self._principal,
                secret=self._secret,
                heartbeat_timeout_factor=self._heartbeat_timeout_factor,
                **self._driver_options,
            )
        self._driver.start()

    def stop(self) -> None:
        driver = self._driver
        if driver is not None:
            driver.stop()

    def shutdown(self) -> None:
        """Mesos supervises the tasks: they run on while no worker is subscribed."""
        self.stop()

    def accept(self, offer_ids: list[str], launches: list[TaskLaunch], refuse_seconds: float) -> None:
        if not launches:
            self.decline(offer_ids, refuse_seconds)
            return
        try:
            task_infos = [task_info(launch) for launch in launches]
        except TaskInfoError as exc:
            raise BackendError(f"cannot launch on offers {', '.join(offer_ids)}: {exc}") from exc
        filters = {"refuse_seconds": float(refuse_seconds)}
        self._with_driver(lambda d: d.launch(offer_ids, task_infos, filters))

    def decline(self, offer_ids: list[str], refuse_seconds: float) -> None:
        filters = {"refuse_seconds": float(refuse_seconds)}
        self._with_driver(lambda d: d.decline(offer_ids, filters))

    def kill(self, task_id: str, agent_id: str | None) -> None:
        self._with_driver(lambda d: d.kill(task_id, agent_id))

    def reconcile(self, tasks: list[tuple[str, str | None]]) -> None:
        self._with_driver(lambda d: d.reconcile(tasks))

    def suppress(self) -> None:
        self._with_driver(lambda d: d.suppress([self.role]))

    def revive(self) -> None:
        self._with_driver(lambda d: d.revive([self.role]))

    def offers_suppressed(self) -> bool:
        driver = self._driver
        return driver is not None and self.role in driver.suppressed_roles

    # -- what the API asks outside a term ---------------------------------------------------

    def validate(self, definition: Mapping[str, Any]) -> list[FieldError]:
        """What a Mesos master or agent would refuse (:mod:`hippo_core.backends.mesos.rules`)."""
        return rules.field_errors(definition)

    def use_framework_id(self, lookup: Callable[[], str | None]) -> None:
        self._framework_id_lookup = lookup

    def has_logs(self, attempt_id: str, agent_id: str | None) -> bool:
        # Launched on an agent: its sandbox may hold output. Whether it still does is only
        # known by asking the agent, which read_logs does.
        return agent_id is not None

    def read_logs(
        self,
        attempt_id: str,
        agent_id: str | None,
        tail: int | None = None,
        offset: Mapping[str, int] | None = None,
    ) -> AttemptLogs | None:
        return self._log_reader().read(attempt_id, agent_id, tail, offset)

    def _log_reader(self) -> MesosLogs:
        with self._lock:
            if self._logs is None:
                auth = (
                    requests.auth.HTTPBasicAuth(self._principal, self._secret)
                    if self._principal and self._secret
                    else None
                )
                self._logs = MesosLogs(
                    AgentDirectory(self.masters, self._session, auth),
                    SandboxReader(self._session, auth),
                    self._current_framework_id,
                )
            return self._logs

    def _current_framework_id(self) -> str | None:
        if self._framework_id_lookup is not None:
            return self._framework_id_lookup()
        return self.framework_id

    def _session(self) -> requests.Session:
        # requests does not promise a Session is thread-safe, and the API reads logs on many threads.
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session

    def _with_driver(self, call: Callable[[MesosSchedulerDriver], T]) -> T:
        driver = self._driver
        if driver is None:
            raise NotConnected("the mesos backend is not started")
        try:
            return call(driver)
        except NotSubscribedError as exc:
            raise NotConnected(str(exc)) from exc
        except MesosError as exc:
            raise BackendError(str(exc)) from exc


class _CallbackAdapter(Scheduler):
    """Turns the driver's raw JSON events into Hippo's backend callbacks."""

    def __init__(self, callbacks: SchedulerCallbacks, roles: Sequence[str]) -> None:
        self._callbacks = callbacks
        self._roles = tuple(roles)
        # Status updates name the agent but not its host; offers name both.
        self._hostnames: dict[str, str] = {}

    def subscribed(self, driver: MesosSchedulerDriver, framework_id: str, event: dict) -> None:
        self._callbacks.registered(framework_id)

    def offers(self, driver: MesosSchedulerDriver, offers: list[dict]) -> None:
        converted = []
        for raw in offers:
            offer = offer_from_json(raw, self._roles)
            self._hostnames[offer.agent_id] = offer.hostname
            converted.append(offer)
        self._callbacks.offers(converted)

    def rescind(self, driver: MesosSchedulerDriver, offer_id: str) -> None:
        self._callbacks.rescinded(offer_id)

    def update(self, driver: MesosSchedulerDriver, status: dict) -> None:
        # Raising here (from status_update) withholds the acknowledgement on purpose.
        agent_id = (status.get("agent_id") or {}).get("value")
        hostname = self._hostnames.get(agent_id) if agent_id else None
        self._callbacks.status_update(status_from_json(status, hostname))

    def failure(self, driver: MesosSchedulerDriver, failure: dict) -> None:
        # Tasks of a lost agent or executor also get their own terminal updates.
        log.warning("Mesos reports a failure: %s", failure)

    def message(self, driver: MesosSchedulerDriver, message: dict) -> None:
        log.info("ignoring a framework message from Mesos: %s", message)

    def error(self, driver: MesosSchedulerDriver, message: str) -> None:
        self._callbacks.error(message)

    def disconnected(self, driver: MesosSchedulerDriver, reason: str) -> None:
        self._callbacks.disconnected(reason)
