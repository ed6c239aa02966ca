"""The callbacks a :class:`MesosSchedulerDriver` delivers events to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hippo_core.backends.mesos.client import MesosSchedulerDriver


class Scheduler:
    """Callbacks of the driver, all called on its event thread, one at a time.

    Arguments are the raw v1 JSON of the event. Override what you need; the defaults
    do nothing. An exception raised by a callback is logged; for ``update`` it also
    withholds the acknowledgement, so Mesos delivers the update again.
    """

    def subscribed(self, driver: MesosSchedulerDriver, framework_id: str, event: dict) -> None:
        """Subscribed or resubscribed; ``event`` is the ``subscribed`` object."""

    def offers(self, driver: MesosSchedulerDriver, offers: list[dict]) -> None: ...

    def rescind(self, driver: MesosSchedulerDriver, offer_id: str) -> None: ...

    def update(self, driver: MesosSchedulerDriver, status: dict) -> None:
        """A ``TaskStatus``; acknowledged by the driver once this returns."""

    def message(self, driver: MesosSchedulerDriver, message: dict) -> None: ...

    def failure(self, driver: MesosSchedulerDriver, failure: dict) -> None: ...

    def error(self, driver: MesosSchedulerDriver, message: str) -> None:
        """Mesos refused the framework for good; the driver has stopped."""

    def heartbeat(self, driver: MesosSchedulerDriver) -> None: ...

    def disconnected(self, driver: MesosSchedulerDriver, reason: str) -> None:
        """The subscription is lost; the driver is subscribing again."""
