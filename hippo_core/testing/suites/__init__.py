"""Test suites every queue type runs, so that each plugin writes only what is its own.

- :class:`QueueTypeSuite` (:mod:`~hippo_core.testing.suites.contract`): registration,
  the schema's conventions, the manual and its example.
- :class:`PollerSuite` (:mod:`~hippo_core.testing.suites.poller`): Hippo's Poller on the
  queue type's real source: items become tasks, batches, restarts, crashes between
  storing and acknowledging, disabled queues, backpressure, failing sources.

A plugin subclasses a suite in one of its test modules (the class name starting with
``Test``) and, for the poller suite, describes its source with a
:class:`QueueSource` and its :class:`SourceFailure` rows. The suites use the fixtures of
:mod:`hippo_core.testing.pytest_plugin` (``hippo_queues``, ``hippo_pollers``, ...); a test
module that defines ``hippo_queuetypes`` runs them on other classes (a test double).
"""

from hippo_core.testing.suites.contract import QueueTypeSuite, manual_example
from hippo_core.testing.suites.poller import PollerSuite
from hippo_core.testing.suites.source import QueueSource, SourceFailure

__all__ = ["PollerSuite", "QueueSource", "QueueTypeSuite", "SourceFailure", "manual_example"]
