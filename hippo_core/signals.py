"""How Hippo's long-running commands stop: the first SIGTERM or Ctrl-C cleanly, a second at once."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger("hippo")


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on the first SIGTERM or SIGINT; exit at once on a second one."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            log.warning("%s received again; exiting now", signal.Signals(signum).name)
            os._exit(130)
        log.info("%s received; stopping (send it again to exit at once)", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
