"""The composition root: the one place that builds Hippo's parts from its settings.

``hippo api``, ``hippo worker`` and ``hippo up`` assemble the same parts (the store,
the queue types, the backend, the API app, the worker and what runs beside it) through
these functions, so the wiring is written once and the parts know nothing of each
other's construction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import falcon

from hippo_core import crypto, metrics
from hippo_core.api import create_app
from hippo_core.api.auth import AuthSettings
from hippo_core.backend import Backend
from hippo_core.backends.loader import backend_class, installed_backends
from hippo_core.backendstatus import record_backend_status
from hippo_core.config import Config, load_config
from hippo_core.crypto import Sealer, SecretsSettings
from hippo_core.errors import StoreUnavailable
from hippo_core.journal import EventsSettings
from hippo_core.logformat import LogSettings
from hippo_core.metrics import MetricsSettings
from hippo_core.policy import Policy, PolicySettings
from hippo_core.poller import Poller
from hippo_core.registry import QueueTypeRegistry
from hippo_core.settings import Settings
from hippo_core.store import Store
from hippo_core.worker import Service, Worker

log = logging.getLogger(__name__)

# Task records a worker keeps of those it last read or wrote (Store.cache_records): its
# next write of one is a single round trip. About 2 KB each.
WORKER_RECORD_CACHE = 20_000

# Tables of the config file that belong to the core rather than to a backend.
CORE_SECTIONS: list[type[Settings]] = [
    AuthSettings,
    SecretsSettings,
    PolicySettings,
    EventsSettings,
    MetricsSettings,
    LogSettings,
]


def known_sections() -> list[type[Settings]]:
    """Every table Hippo reads: the core's, and each installed backend's."""
    backend_sections = [b.settings for b in installed_backends() if b.settings is not None]
    return [*CORE_SECTIONS, *backend_sections]


def load(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The settings, every known table checked now (``ValueError`` naming each problem)."""
    return load_config(path, env, sections=known_sections())


def open_store(config: Config) -> Store:
    return Store.from_url(config.redis_url_or_default, config.key_prefix, config.section(EventsSettings))


def backend_factory(config: Config) -> Callable[[], Backend]:
    """A function building a fresh backend of ``config.backend`` for each leadership term."""
    cls = backend_class(config.backend)
    return lambda: cls.from_config(config)


def api_app(config: Config, store: Store, registry: QueueTypeRegistry | None = None) -> falcon.App:
    """The API, with a backend of its own (never started) for validation and logs."""
    backend = backend_class(config.backend).from_config(config)
    registry = registry or QueueTypeRegistry()
    seal_stored_secrets(config, store, registry)
    # Finding an attempt's output may need the framework id the leading worker registered as.
    backend.use_framework_id(store.framework_id)
    return create_app(config, store, registry, backend)


def seal_stored_secrets(config: Config, store: Store, registry: QueueTypeRegistry) -> None:
    """Seal the secrets an older Hippo (records of format 2 and before) stored in clear."""
    try:
        crypto.seal_stored(store, registry, Sealer.from_config(config))
    except StoreUnavailable as exc:
        # Nothing is lost: secrets in clear are still read, and sealed at the next start.
        log.warning("could not seal stored secrets now (%s); will try at the next start", exc)


def worker_services(config: Config, store: Store) -> list[Service]:
    """What runs beside the scheduler while a worker leads: the queue poller."""
    poller = Poller(
        store,
        QueueTypeRegistry(),
        threads=config.poller_threads,
        sealer=Sealer.configured(config),
        policy=Policy.from_config(config),
    )
    return [poller]


def worker(config: Config, store: Store) -> Worker:
    """The worker, its metrics counted and its backend's connection recorded for ``/status/``."""
    seal_stored_secrets(config, store, QueueTypeRegistry())
    metrics.install(config.section(MetricsSettings))
    record_backend_status(store)
    store.cache_records(WORKER_RECORD_CACHE)
    return Worker(config, store, backend_factory(config), services=worker_services(config, store))
