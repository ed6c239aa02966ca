"""Helpers for testing Hippo and Hippo plugins against real servers.

- :mod:`hippo_core.testing.servers`: start a private ``redis-server`` (and other
  servers) on a free port for the length of a test session.
- :mod:`hippo_core.testing.pytest_plugin`: pytest fixtures built on them, loaded
  automatically once ``hippo-core`` is installed.
- :mod:`hippo_core.testing.mesos`: a Mesos master test peer speaking the v1
  scheduler HTTP API.
"""
