"""``hippo worker``: leader election, then the scheduler, tracker and poller on one backend.

Any number of workers may run; the one holding the leader lease drives the backend
and polls the queues, the others wait. A leadership *term* owns one backend
connection: when the lease is lost the term ends (backend stopped, never torn down:
tasks keep running) and callbacks still arriving from it are ignored. The framework
id lives in Redis, so the next term (here or on a standby) subscribes as the same
framework and reconciles before it trusts its books.

A term ending (a lost lease, a Redis stall longer than the lease) is not Hippo
stopping: the backend is ``stop``-ped and every task keeps running. Only when the
worker itself stops (``stop()``: SIGTERM, Ctrl-C, a refusal by the cluster) is the
backend ``shutdown``, which for a backend that supervises its own tasks (``local``)
ends them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from hippo_core import events
from hippo_core.backend import Backend, BackendError, Offer, TaskStatus
from hippo_core.config import Config
from hippo_core.errors import StoreUnavailable
from hippo_core.events import Event
from hippo_core.leader import Lease
from hippo_core.policy import Policy
from hippo_core.scheduler import Scheduler
from hippo_core.store import Store
from hippo_core.tracker import Tracker

log = logging.getLogger(__name__)


class Service(Protocol):
    """Something that runs only while this worker leads (the poller)."""

    def start(self, fence: str | None = None) -> None:
        """Begin; ``fence`` is the leader lease's token, to guard writes with."""

    def stop(self) -> None: ...


class StaleTerm(RuntimeError):
    """A callback from a backend whose leadership term has ended."""


class Term:
    """One leadership term: the backend's callbacks, wired to scheduler and tracker."""

    def __init__(
        self,
        store: Store,
        backend: Backend,
        config: Config,
        on_error: Callable[[str], None],
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.backend = backend
        self.on_error = on_error
        self.leading = leading
        self.active = True
        self.scheduler = Scheduler(
            store, backend, refuse_seconds=config.refuse_seconds, policy=Policy.from_config(config)
        )
        self.tracker = Tracker(store, backend, unreachable_timeout=config.unreachable_timeout)
        self._unsaved_framework_id: str | None = None

    def registered(self, framework_id: str) -> None:
        if not self.active:
            return
        log.info("subscribed as framework %s", framework_id)
        events.publish(
            Event("backend.connected", data={"backend": self.backend.name, "framework_id": framework_id})
        )
        self._unsaved_framework_id = framework_id
        self.scheduler.reset()
        # Nothing launches until this completes; if Redis fails here, tick() tries again.
        self.tracker.begin_reconciliation()
        self._save_framework_id()

    def _save_framework_id(self) -> None:
        framework_id = self._unsaved_framework_id
        if framework_id is None:
            return
        try:
            self.store.set_framework_id(framework_id)
        except StoreUnavailable as exc:
            log.warning("could not save framework id %s yet: %s", framework_id, exc)
            return
        self._unsaved_framework_id = None

    def offers(self, offers: list[Offer]) -> None:
        if not self.active:
            return
        try:
            self.scheduler.handle_offers(offers, trusted=self.tracker.trusted())
        except BackendError as exc:
            # The cluster refused an answer (a master failing over): it takes the offers back
            # when it rescinds them, or forgets them with the failover.
            log.warning("could not answer %d offer(s): %s", len(offers), exc)
        except Exception:
            # Offers not declined stay out of use until the master rescinds them.
            log.exception("could not use %d offer(s); declining them", len(offers))
            self.backend.decline([o.id for o in offers], refuse_seconds=1.0)

    def rescinded(self, offer_id: str) -> None:
        log.debug("offer %s rescinded", offer_id)

    def status_update(self, status: TaskStatus) -> None:
        if not self.active:
            # Not acknowledged: the master sends it again to whoever leads next.
            raise StaleTerm(f"update {status.task_id} {status.state} arrived after the term ended")
        self.tracker.handle_update(status)

    def disconnected(self, reason: str) -> None:
        log.warning("lost the connection to the cluster: %s", reason)
        events.publish(Event("backend.disconnected", message=reason, data={"backend": self.backend.name}))
        self.tracker.distrust()

    def error(self, message: str) -> None:
        if not self.active or not self.leading():
            # A deposed leader hears "framework failed over" when its successor subscribes.
            log.warning("the cluster refused an earlier term (ignored): %s", message)
            return
        self.on_error(message)

    def tick(self) -> None:
        self._save_framework_id()
        self.tracker.tick()
        if self.tracker.trusted():
            self.scheduler.sync_offers_wanted()


class Worker:
    def __init__(
        self,
        config: Config,
        store: Store,
        backend_factory: Callable[[], Backend],
        services: list[Service] | None = None,
        tick_seconds: float = 1.0,
    ) -> None:
        self.config = config
        self.store = store
        self.backend_factory = backend_factory
        self.services = services or []
        self.tick_seconds = tick_seconds
        self.lease = Lease(store, config.leader_lease_seconds)
        self.term: Term | None = None
        self.fatal: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()

    @property
    def leading(self) -> bool:
        return self.term is not None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> int:
        """Lead or stand by until ``stop()``; 0 on a clean stop, 1 if the cluster refused Hippo."""
        listener = threading.Thread(target=self._listen, name="hippo-wake", daemon=True)
        listener.start()
        # The lease is renewed on its own thread: a slow tick must not let it lapse unseen.
        keeper = threading.Thread(target=self._keep_lease, name="hippo-lease", daemon=True)
        keeper.start()
        try:
            while not self._stop.is_set():
                try:
                    self._lead_or_stand_by()
                except StoreUnavailable as exc:
                    log.warning("cannot take the lead, Redis failed: %s", exc)
                    self._step_down()
                if self.term is not None:
                    try:
                        self.term.tick()
                    except StoreUnavailable as exc:
                        log.warning("worker duties skipped, Redis failed: %s", exc)
                    except Exception:
                        log.exception("worker duties failed; carrying on")
                self._wake.wait(self.tick_seconds)
                self._wake.clear()
        finally:
            self._stop.set()
            keeper.join()
            self._step_down(hippo_stopping=True)
            self.lease.release()
            listener.join()
        return 1 if self.fatal else 0

    def _keep_lease(self) -> None:
        while not self._stop.is_set():
            held_before = self.lease.held()
            self.lease.refresh()
            if self.lease.held() != held_before:
                self._wake.set()
            self._stop.wait(self.config.leader_lease_seconds / 3)

    def _lead_or_stand_by(self) -> None:
        held = self.lease.held()
        if held and self.term is None and not self._stop.is_set():
            self._step_up()
        elif not held and self.term is not None:
            log.warning("lost the leader lease; stepping down")
            self._step_down()

    def _step_up(self) -> None:
        backend = self.backend_factory()
        self.term = Term(self.store, backend, self.config, self._refused, leading=self.lease.held)
        framework_id = self.store.framework_id()
        log.info(
            "leading with lease %s (%s backend, framework %s)",
            self.lease.token,
            backend.name,
            framework_id or "new",
        )
        events.publish(Event("leader.changed", data={"leading": True, "term": self.lease.token}))
        backend.start(self.term, framework_id)
        for service in self.services:
            service.start(self.lease.token)

    def _step_down(self, hippo_stopping: bool = False) -> None:
        """End the term: no more polls or launches. Tasks are ended only if Hippo is stopping."""
        term, self.term = self.term, None
        if term is None:
            return
        for service in self.services:
            try:
                service.stop()
            except Exception:
                log.exception("stopping %r failed", service)
        # Stopped first, so updates already on their way are still applied and acknowledged.
        if hippo_stopping:
            term.backend.shutdown()
        else:
            term.backend.stop()
        term.active = False
        events.publish(Event("leader.changed", data={"leading": False, "term": self.lease.token}))

    def _refused(self, message: str) -> None:
        """The cluster refused this leader: stop (a supervisor may restart the worker).

        Only a framework the cluster has removed (torn down, or its failover timeout lapsed)
        is forgotten, so that the next worker registers a new one; for any other refusal
        (credentials, roles, a framework that failed over elsewhere) the id is kept.
        """
        self.fatal = message
        try:
            if "removed" in message.lower():
                log.error("the cluster removed the framework: %s; forgetting its id and stopping", message)
                self.store.set_framework_id(None)
            else:
                log.error("the cluster refused Hippo: %s; stopping", message)
        except StoreUnavailable as exc:
            log.error("could not forget the removed framework's id: %s", exc)
        finally:
            self.stop()

    def _listen(self) -> None:
        """Turn pub/sub nudges into immediate ticks; without them ticks still come every second."""
        while not self._stop.is_set():
            try:
                with self.store.subscribe_wake() as nudges:
                    while not self._stop.is_set():
                        if nudges.wait(0.5):
                            self._wake.set()
            except StoreUnavailable as exc:
                log.debug("wake-up channel lost (%s); retrying", exc)
                self._stop.wait(1.0)
