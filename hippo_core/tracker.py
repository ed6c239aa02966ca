"""Status updates in: the task state machine, retries, kills, reconciliation.

- Every update is applied to its task atomically before it counts as handled, so a
  crash before the backend acknowledges it only makes the backend send it again, which
  the state machine recognises as a repeat.
- Kills go through Redis (``Store.request_kill``) and are sent, and re-sent every
  ``kill_resend_seconds``, until a terminal update for that attempt arrives: a kill
  lost on the way (a dropped connection, a worker crash) is not lost for good. After
  ``kill_attempts`` sends without an answer the request is dropped with a warning.
- After every (re)subscription the books are not trusted until explicit
  reconciliation of every task Redis believes active has been answered (then an
  implicit one asks the backend for anything else it knows). Unanswered tasks are asked
  again with backoff; after ``reconcile_rounds`` rounds Hippo trusts its books anyway
  and logs which tasks never answered.
"""

from __future__ import annotations

import logging
import threading
import time

from hippo_core import states
from hippo_core.backend import Backend, BackendError, TaskStatus
from hippo_core.backoff import Backoff
from hippo_core.errors import NotFound, StoreUnavailable
from hippo_core.logformat import log_context
from hippo_core.store import Store
from hippo_core.taskstate import ACTIVE_STATES, State

log = logging.getLogger(__name__)


class Tracker:
    def __init__(
        self,
        store: Store,
        backend: Backend,
        unreachable_timeout: float = 900.0,
        reconcile_retry_seconds: float = 5.0,
        reconcile_rounds: int = 5,
        kill_resend_seconds: float = 10.0,
        kill_attempts: int = 30,
        sweep_seconds: float = 5.0,
        stuck_after: float = 60.0,
        implicit_reconcile_seconds: float = 900.0,
    ) -> None:
        self.store = store
        self.backend = backend
        self.unreachable_timeout = unreachable_timeout
        self.reconcile_retry_seconds = reconcile_retry_seconds
        self.reconcile_rounds = reconcile_rounds
        self._reconcile_backoff = Backoff(
            reconcile_retry_seconds, reconcile_retry_seconds * 2 ** (reconcile_rounds + 1)
        )
        self.kill_resend_seconds = kill_resend_seconds
        self.kill_attempts = kill_attempts
        self.sweep_seconds = sweep_seconds
        self.stuck_after = stuck_after
        self._next_sweep = 0.0
        self.implicit_reconcile_seconds = implicit_reconcile_seconds
        self._lock = threading.Lock()
        self._trusted = False
        self._reconciling = False
        self._begun = False
        self._awaiting: dict[str, str | None] = {}
        self._round = 0
        self._next_reconcile = 0.0
        self._next_implicit = 0.0
        self._kills_sent: dict[str, float] = {}
        self._kill_sends: dict[str, int] = {}

    # -- reconciliation ---------------------------------------------------------------------

    def trusted(self) -> bool:
        with self._lock:
            return self._trusted

    def distrust(self) -> None:
        with self._lock:
            self._trusted = False
            self._reconciling = False
            self._begun = False

    def begin_reconciliation(self) -> None:
        """Ask where every task Redis believes active is; trust the books once all answered.

        Untrusted from here on; if Redis or the backend fails part-way, ``tick`` starts over.
        """
        with self._lock:
            self._trusted = False
            self._reconciling = True
            self._begun = False
            self._awaiting = {}
        self._begin()

    def _begin(self) -> None:
        try:
            awaiting = self._active_attempts()
        except StoreUnavailable as exc:
            log.warning("cannot read the tasks to reconcile yet: %s", exc)
            return
        now = time.monotonic()
        with self._lock:
            self._awaiting = awaiting
            self._round = 0
            self._trusted = not awaiting
            self._reconciling = bool(awaiting)
            self._begun = True
            self._next_reconcile = now + self.reconcile_retry_seconds
            self._next_implicit = now + self.implicit_reconcile_seconds
            self._kills_sent.clear()
            self._kill_sends.clear()
        log.info("reconciling %d task(s) Hippo believes active", len(awaiting))
        try:
            if awaiting:
                self.backend.reconcile(list(awaiting.items()))
            self.backend.reconcile([])
        except BackendError as exc:
            # The retry rounds ask again.
            log.warning("reconciliation request not delivered: %s", exc)

    def _active_attempts(self) -> dict[str, str | None]:
        """Current attempts of the tasks Redis believes active."""
        attempts: dict[str, str | None] = {}
        for state in ACTIVE_STATES:
            for task in self.store.get_tasks(self.store.task_ids(state)):
                attempt = states.current_attempt(task)
                attempts[attempt["mesos_id"]] = attempt["agent_id"]
        return attempts

    def _answered(self, task_id: str) -> None:
        with self._lock:
            if not self._reconciling:
                return
            self._awaiting.pop(task_id, None)
            if not self._awaiting:
                self._reconciling = False
                self._trusted = True
                log.info("reconciliation complete: every task accounted for")

    def _reconcile_tick(self, now: float) -> None:
        with self._lock:
            if self._reconciling and not self._begun:
                begin = True
            elif not self._trusted and not self._reconciling:
                return  # not subscribed: nothing to ask
            else:
                begin = False
        if begin:
            self._begin()
            return
        with self._lock:
            if self._trusted:
                if now < self._next_implicit:
                    return
                self._next_implicit = now + self.implicit_reconcile_seconds
                remaining = None
            elif now < self._next_reconcile:
                return
            else:
                self._round += 1
                if self._round > self.reconcile_rounds:
                    log.warning(
                        "no reconciliation answer for %d task(s) after %d rounds; trusting the "
                        "books anyway: %s",
                        len(self._awaiting),
                        self.reconcile_rounds,
                        ", ".join(sorted(self._awaiting)[:20]),
                    )
                    self._awaiting.clear()
                    self._reconciling = False
                    self._trusted = True
                    return
                self._next_reconcile = now + self._reconcile_backoff.delay(self._round + 1)
                remaining = list(self._awaiting.items())
        if remaining is None:
            self.backend.reconcile([])
        else:
            log.info("asking again about %d unreconciled task(s)", len(remaining))
            self.backend.reconcile(remaining)

    # -- status updates ---------------------------------------------------------------------

    def handle_update(self, status: TaskStatus) -> states.Outcome | None:
        """Apply one update; raises (so it is not acknowledged) only if Redis failed."""
        with log_context(task_id=status.task_id):
            outcome = self._apply(status)
        # Only once applied: an update lost to a Redis failure is asked about again.
        self._answered(status.task_id)
        return outcome

    def _apply(self, status: TaskStatus) -> states.Outcome | None:
        ended = states.ends_attempt(status.state)
        if ended:
            with self._lock:
                self._kills_sent.pop(status.task_id, None)
                self._kill_sends.pop(status.task_id, None)
        try:
            # An attempt that ended needs no kill any more, and one that must die gets its
            # kill request: both in the same write as the update.
            outcome = states.apply_event(
                self.store.update_task_of_attempt,
                status.task_id,
                lambda task: states.apply_status(task, status),
                forget_kill=ended,
            )
        except NotFound:
            outcome = None
        if outcome is None:
            if ended:
                self.store.kill_sent(status.task_id)
            self._orphan(status)
            return None
        if outcome.refused:
            log.warning(
                "refused update %s %s (%s): %s", status.task_id, status.state, status.reason, outcome.refused
            )
        if outcome.kill:
            log.info("attempt %s is %s although Hippo ended it; killing it", status.task_id, status.state)
        if outcome.task is not None and outcome.task["state"] != State.PENDING:
            log.info("task %s: %s (%s)", status.task_id, status.state, status.reason or "-")
        if outcome.retried and outcome.task is not None:
            log.info(
                "task %s will be retried (attempt %d)",
                outcome.task["mesos_id"],
                len(outcome.task["attempts"]),
            )
        return outcome

    def _orphan(self, status: TaskStatus) -> None:
        """An update for a task Hippo does not know (deleted, or another framework's past)."""
        if not states.ends_attempt(status.state):
            log.warning("task %s is %s but unknown to Hippo; killing it", status.task_id, status.state)
            self.store.request_kill(status.task_id, status.agent_id)
        return None

    # -- periodic duties --------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._reconcile_tick(now)
        self._send_kills(now)
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_seconds
            self._check_unreachable()
            self._ask_about_stuck()

    def _ask_about_stuck(self) -> None:
        """Ask explicitly about tasks long in STAGING or KILLING.

        A launch that never reached the master (a crash, a failed call after the launch was
        recorded) or a kill whose answer was lost would otherwise hold its slot until the
        next resubscription: implicit reconciliation does not report tasks the master
        does not know.
        """
        if not self.trusted():
            return
        cutoff = time.time() - self.stuck_after
        stuck: dict[str, str | None] = {}
        for state in (State.STAGING, State.KILLING):
            for task in self.store.get_tasks(self.store.task_ids(state)):
                if task["updated_at"] <= cutoff:
                    attempt = states.current_attempt(task)
                    stuck[attempt["mesos_id"]] = attempt["agent_id"]
        if stuck:
            log.info("asking the backend about %d task(s) long in STAGING or KILLING", len(stuck))
            self.backend.reconcile(list(stuck.items()))

    def _send_kills(self, now: float) -> None:
        for attempt_id, agent_id in self.store.kill_requests().items():
            with self._lock:
                last = self._kills_sent.get(attempt_id)
                if last is not None and now - last < self.kill_resend_seconds:
                    continue
                self._kills_sent[attempt_id] = now
                sends = self._kill_sends[attempt_id] = self._kill_sends.get(attempt_id, 0) + 1
            if sends > self.kill_attempts:
                # A cluster that has forgotten a task answers its kill with nothing at all (Mesos does).
                log.warning(
                    "no ending reported for %s after %d kills; giving up on killing it",
                    attempt_id,
                    self.kill_attempts,
                )
                self.store.kill_sent(attempt_id)
                with self._lock:
                    self._kill_sends.pop(attempt_id, None)
                    self._kills_sent.pop(attempt_id, None)
                continue
            try:
                self.backend.kill(attempt_id, agent_id)
            except BackendError as exc:
                log.warning("kill of %s not delivered, will retry: %s", attempt_id, exc)
                with self._lock:
                    self._kills_sent.pop(attempt_id, None)

    def _check_unreachable(self) -> None:
        wall = time.time()
        # A task being killed on an unreachable agent is KILLING, and waits just as long.
        ids = self.store.task_ids(State.UNREACHABLE) + self.store.task_ids(State.KILLING)
        for task in self.store.get_tasks(ids):
            since = states.current_attempt(task).get("unreachable_at")
            if since is None or wall - since < self.unreachable_timeout:
                continue
            try:
                outcome = states.apply_event(
                    self.store.update_task, task["mesos_id"], states.give_up_unreachable
                )
            except NotFound:
                continue
            if outcome is not None and outcome.kill:
                log.warning(
                    "task %s unreachable for over %gs; giving up on that attempt "
                    "(its kill stands for when the agent is back)",
                    task["mesos_id"],
                    self.unreachable_timeout,
                )
