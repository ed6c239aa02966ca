"""Offers in, launches and declines out: pending tasks x offers -> ``Backend.accept``.

Each offer round takes the oldest pending tasks whose family has free slots (at most
``batch`` of them, scanning at most ``scan_limit`` pending ids, so a family at its
``max_concurrent`` does not starve the others), asks :func:`hippo_core.placement.plan`
where they fit, records each launch in Redis *before* sending it (a worker that dies
in between leaves a STAGING task that reconciliation resolves, never a task launched
twice), and declines the rest with a refuse filter: long when no waiting task could
use the resources, short when one could (:mod:`hippo_core.offer_filters`). Tasks
that stay pending get a visible ``pending_reason``.

Offers wanted: with nothing pending, offers are suppressed; pending work revives
them when they are suppressed, when a long filter may hide them from work no offer
round has weighed yet (a new task, a retry, whatever is pending once reconciliation
is done), and when none has come for ``revive_after`` seconds. Suppression is
tracked from what was actually sent: after a (re)subscription the backend says
whether an earlier SUPPRESS was carried into it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable

from hippo_core import events, states
from hippo_core.backend import Backend, BackendError, NotConnected, Offer
from hippo_core.constraints import Placement, parse_constraints
from hippo_core.errors import NotFound
from hippo_core.events import Event
from hippo_core.launch import LABEL_FAMILY, LABEL_QUEUE, LABEL_TASK, task_launch
from hippo_core.offer_filters import SHORT_REFUSE_SECONDS, FilterWatch, Leftover, could_use, leftovers
from hippo_core.placement import Capacity, Launch, PendingTask, Plan, plan
from hippo_core.policy import Policy
from hippo_core.records import Task
from hippo_core.store import Store
from hippo_core.taskstate import ACTIVE_STATES, State

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        store: Store,
        backend: Backend,
        refuse_seconds: float = 5.0,
        batch: int = 500,
        scan_limit: int = 5000,
        policy: Policy | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        # The [policy] rules for tasks, checked again before launch (None: none).
        self.policy = policy
        self.refuse_seconds = refuse_seconds
        self.batch = batch
        self.scan_limit = scan_limit
        self.capacity = Capacity()
        # Work pending but no offer for this long: revive even if Hippo thinks it did
        # (a SUPPRESS racing a resubscription, a lost REVIVE, refuse filters piling up).
        self.revive_after = max(2.0, 3 * refuse_seconds)
        self.short_refuse_seconds = min(refuse_seconds, SHORT_REFUSE_SECONDS)
        self._lock = threading.Lock()
        self._suppressed = False
        self._last_offers = time.monotonic()
        self._filters = FilterWatch()

    # -- offers -----------------------------------------------------------------------------

    def handle_offers(self, offers: list[Offer], trusted: bool) -> None:
        self._last_offers = time.monotonic()
        self.capacity = self.capacity.widen(Capacity.of(offers))
        if not trusted:
            # Until reconciliation says where every task is, launching could double one.
            self._decline([o.id for o in offers], 1.0, "reconciling")
            return
        tasks, waiting = self._candidates()
        by_id = {t["mesos_id"]: t for t in tasks}
        # Tasks held back by their family's max_concurrent could use these offers as soon as a
        # slot frees; constrained ones among them are left out (their placements are not read).
        skipped = [self._pending_task(t) for t, _ in waiting.values() if not t.get("constraints")]
        if not tasks:
            self._weighed(waiting)
            self._decline_leftovers(offers, plan(offers, [], {}, {}), skipped, {}, "nothing to launch")
            self._note_waiting(waiting)
            self.sync_offers_wanted()
            return
        families = {t["id"] for t in tasks}
        active = self.store.count_tasks(ACTIVE_STATES, families)
        constrained = {t["id"] for t in tasks if t.get("constraints")}
        placed = {f: self._placements(f) if f in constrained else [] for f in families}
        pending = [self._pending_task(t) for t in tasks]
        result = plan(offers, pending, placed, active, self.capacity)
        self._weighed([*result.waiting, *waiting])
        unplaced = [p for p in pending if p.task_id in result.waiting] + skipped
        offers_by_id = {o.id: o for o in offers}
        left = leftovers(offers, result)
        for launch in result.launches:
            refuse = self._refuse_for(left[launch.agent_id], unplaced, placed)
            self._launch(launch, by_id, offers_by_id, refuse)
        self._decline_leftovers(offers, result, unplaced, placed, "not needed")
        waiting.update({tid: (by_id[tid], reason) for tid, reason in result.waiting.items()})
        self._note_waiting(waiting)

    def _weighed(self, still_pending: Iterable[str]) -> None:
        """Tasks this round looked at and left pending: not new work for a REVIVE. (One it
        launches is new again if it comes back: a retry, a launch never sent.)"""
        with self._lock:
            self._filters.round_weighed(still_pending)

    @staticmethod
    def _pending_task(task: Task) -> PendingTask:
        return PendingTask(
            task_id=task["mesos_id"],
            group=task["id"],
            cpus=float(task["cpus"]),
            mem=float(task["mem"]),
            constraints=tuple(parse_constraints(task.get("constraints", []))),
            max_concurrent=task["max_concurrent"],
        )

    def _refuse_for(
        self, left: Leftover, unplaced: list[PendingTask], placed: dict[str, list[Placement]]
    ) -> float:
        """Long unless a task still waiting could use what the agent has left."""
        return self.short_refuse_seconds if could_use(left, unplaced, placed) else self.refuse_seconds

    def _decline_leftovers(
        self,
        offers: list[Offer],
        result: Plan,
        unplaced: list[PendingTask],
        placed: dict[str, list[Placement]],
        why: str,
    ) -> None:
        """Decline the offers of agents nothing launches on, grouped by their filter."""
        declined = set(result.decline)
        by_refuse: dict[float, list[str]] = {}
        for left in leftovers(offers, result).values():
            if left.offer_ids[0] in declined:
                refuse = self._refuse_for(left, unplaced, placed)
                by_refuse.setdefault(refuse, []).extend(left.offer_ids)
        for refuse, offer_ids in sorted(by_refuse.items()):
            self._decline(offer_ids, refuse, why if refuse == self.refuse_seconds else f"{why}; wanted soon")

    def _candidates(self) -> tuple[list[Task], dict[str, tuple[Task, str]]]:
        """Oldest pending tasks whose family has room, and why the skipped ones wait."""
        limits: dict[str, int] = {}
        chosen: list[Task] = []
        skipped: dict[str, tuple[Task, str]] = {}
        room: dict[str, int] = {}
        scanned = 0
        chunk = min(self.batch, 500)
        while len(chosen) < self.batch and scanned < self.scan_limit:
            ids = self.store.task_ids(State.PENDING, offset=scanned, limit=chunk)
            if not ids:
                break
            scanned += len(ids)
            records = self.store.get_tasks(ids)
            new = {t["id"] for t in records} - room.keys()
            if new:
                counts = self.store.count_tasks(ACTIVE_STATES, new)
                limits.update(self._limits(records, new))
                for t in records:
                    if t["id"] in new and t["id"] not in room:
                        room[t["id"]] = limits[t["id"]] - counts[t["id"]]
            for t in records:
                if t["state"] != State.PENDING or not self._runnable(t):
                    continue
                t["max_concurrent"] = limits[t["id"]]
                if room[t["id"]] <= 0:
                    reason = f"max_concurrent {t['max_concurrent']} reached for {self._family_name(t)}"
                    skipped[t["mesos_id"]] = (t, reason)
                    continue
                room[t["id"]] -= 1
                chosen.append(t)
                if len(chosen) >= self.batch:
                    break
        return chosen, skipped

    def _runnable(self, task: Task) -> bool:
        """Whether the backend can run the task; one it never could fails now, not at launch.

        Checked again here although the API checked it: the task may predate a rule.
        """
        problems = self.backend.validate(task)
        if self.policy is not None:
            problems = problems + self.policy.task_problems(task)
        if not problems:
            return True
        message = "; ".join(f"{p.path}: {p.message}" for p in problems)
        log.warning(
            "task %s cannot run on the %s backend or under the policy: %s",
            task["mesos_id"],
            self.backend.name,
            message,
        )
        with contextlib.suppress(NotFound):
            states.apply_event(
                self.store.update_task, task["mesos_id"], lambda t: states.refuse_invalid(t, message)
            )
        return False

    def _limits(self, records: list[Task], families: set[str]) -> dict[str, int]:
        """Each family's max_concurrent now: a queue's current setting, else its first task's.

        A queue's limit is read afresh so that lowering it holds back tasks created before.
        """
        queue_ids = {t["queue_id"] for t in records if t["id"] in families and t["queue_id"] is not None}
        queues = {q["id"]: q for q in self.store.get_queues(queue_ids)}
        limits: dict[str, int] = {}
        for t in records:
            if t["id"] in families and t["id"] not in limits:
                queue = queues.get(t.get("queue_id") or "")
                limits[t["id"]] = queue["queue"]["max_concurrent"] if queue else t["max_concurrent"]
        return limits

    @staticmethod
    def _family_name(task: Task) -> str:
        return f"queue {task['queue_id']}" if task.get("queue_id") else f"task family {task['id']}"

    def _placements(self, family: str) -> list[Placement]:
        """Where the family's active tasks run, oldest first, for its constraints."""
        placements = []
        for state in ACTIVE_STATES:
            ids = self.store.task_ids(state, family=family)
            for task in self.store.get_tasks(ids):
                attempt = states.current_attempt(task)
                if attempt["hostname"]:
                    placements.append(
                        (attempt["launched_at"] or 0.0, Placement(attempt["hostname"], attempt["attributes"]))
                    )
        return [p for _, p in sorted(placements, key=lambda x: x[0])]

    def _launch(
        self, launch: Launch, by_id: dict[str, Task], offers: dict[str, Offer], refuse_seconds: float
    ) -> None:
        offer = offers[launch.offer_ids[0]]
        launches = []
        for pending in launch.tasks:
            try:
                record = self.store.update_task(
                    pending.task_id,
                    lambda t: (
                        states.mark_launched(t, launch.agent_id, launch.hostname, offer.attributes)
                        if t["state"] == State.PENDING
                        else None
                    ),
                )
            except NotFound:
                continue  # deleted while we planned
            if record is None or record["state"] != State.STAGING:
                continue  # killed or re-planned meanwhile
            launches.append(task_launch(record, launch.agent_id))
        if not launches:
            self._decline(list(launch.offer_ids), refuse_seconds, "launches withdrawn")
            return
        try:
            self.backend.accept(list(launch.offer_ids), launches, refuse_seconds)
        except NotConnected as exc:
            # Nothing was sent: back to pending as they were, no retry spent.
            log.info("launch of %d task(s) not sent (%s); they wait again", len(launches), exc)
            for item in launches:
                with contextlib.suppress(NotFound):
                    self.store.update_task(item.labels[LABEL_TASK], states.unlaunch)
            return
        except BackendError as exc:
            log.error("launch of %d task(s) on %s refused: %s", len(launches), launch.hostname, exc)
            for item in launches:
                self._refused(by_id[item.labels[LABEL_TASK]], str(exc))
            return
        with self._lock:
            self._filters.refused(refuse_seconds, time.monotonic())
        log.info("launched %s on %s", ", ".join(t.task_id for t in launches), launch.hostname)
        events.publish(
            *(
                Event(
                    "task.launched",
                    task_id=item.labels[LABEL_TASK],
                    family=item.labels[LABEL_FAMILY],
                    queue_id=item.labels.get(LABEL_QUEUE),
                    attempt_id=item.task_id,
                    agent=launch.agent_id,
                    hostname=launch.hostname,
                )
                for item in launches
            ),
            Event("offers.used", data={"offers": len(launch.offer_ids), "tasks": len(launches)}),
        )

    def _decline(self, offer_ids: list[str], refuse_seconds: float, why: str) -> None:
        self.backend.decline(offer_ids, refuse_seconds)
        with self._lock:
            self._filters.refused(refuse_seconds, time.monotonic())
        events.publish(
            Event(
                "offers.declined",
                data={"offers": len(offer_ids), "refuse_seconds": refuse_seconds, "why": why},
            )
        )

    def _refused(self, task: Task, message: str) -> None:
        # A task deleted meanwhile has nothing left to retry.
        with contextlib.suppress(NotFound):
            self.store.update_task(task["mesos_id"], lambda t: states.launch_refused(t, message).task)

    def _note_waiting(self, waiting: dict[str, tuple[Task, str]]) -> None:
        """Show each waiting task why, writing only reasons that changed."""
        for mesos_id, (task, reason) in waiting.items():
            if task.get("pending_reason") == reason:
                continue

            def note(t: Task, reason: str = reason) -> Task | None:
                if t["state"] != State.PENDING or t.get("pending_reason") == reason:
                    return None
                t["pending_reason"] = reason
                return t

            try:
                self.store.update_task(mesos_id, note)
            except NotFound:
                continue

    # -- suppress / revive ------------------------------------------------------------------

    def sync_offers_wanted(self) -> None:
        """Suppress offers when nothing is pending; revive them when pending work needs them."""
        pending = self.store.count(State.PENDING)
        # Read only while a filter may hide offers: the cheap count is all a quiet tick costs.
        with self._lock:
            filtered = pending and time.monotonic() < self._filters.until
        pending_ids = self.store.task_ids(State.PENDING, offset=0, limit=self.batch) if filtered else []
        now = time.monotonic()
        with self._lock:
            if not pending:
                if not self._suppressed:
                    self.backend.suppress()
                    self._suppressed = True
                    log.debug("nothing pending: offers suppressed")
                return
            unseen = self._filters.unseen(pending_ids, now)
            if self._suppressed:
                why = "offers were suppressed"
            elif unseen:
                why = f"{len(unseen)} of them new while offers were refused"
            elif now - self._last_offers > self.revive_after:
                why = f"no offer for {self.revive_after:g}s"
            else:
                return
            self.backend.revive()
            self._suppressed = False
            self._last_offers = now
            self._filters.revived(pending_ids)
            log.info("%d task(s) pending, %s: offers revived", pending, why)

    def reset(self) -> None:
        """After (re)subscription: offers flow unless the subscription carried a SUPPRESS."""
        with self._lock:
            self._suppressed = self.backend.offers_suppressed()
            self._last_offers = time.monotonic()
