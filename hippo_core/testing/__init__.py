"""Helpers for testing Hippo and Hippo plugins against real servers.

- :mod:`hippo_core.testing.pytest_plugin`: pytest fixtures built on the modules below,
  loaded automatically once ``hippo-core`` is installed (servers, and Hippo's Store,
  QueueService and Pollers on the test's Redis).
- :mod:`hippo_core.redis_server`, :mod:`~hippo_core.testing.sql_servers`: a private
  ``redis-server`` on a free port, throw-away PostgreSQL and MariaDB databases.
- :mod:`hippo_core.testing.polling`: run one poll of a queue now; read back its tasks
  and poller state.
- :mod:`hippo_core.testing.plugin_settings`: a queue type's schema conventions and
  settings filled as Hippo fills them.
- :mod:`hippo_core.testing.suites`: the test suites every queue type runs (its
  contract, and the poller's behaviour on its source), given a small adapter.
- :mod:`hippo_core.testing.memory_queue`: the reference queue type, in memory.

What AWS queue types need for their tests (``moto_server``, clients on it, an empty
credential chain) comes with ``hippo-aws``: :mod:`hippo_aws.testing`.

The Mesos master test peer is a distribution of its own, ``hippo-mesos-peer``
(``mesos-peer/`` in Hippo's repository), so that hippo-core does not carry it.
"""
