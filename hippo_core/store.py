"""The Redis store: the one module that knows Hippo's key names.

Records are JSON strings, each stamped with its ``format`` and upgraded on reading when an
older Hippo wrote it (:mod:`hippo_core.records`); listings go through sorted-set indexes (score = creation
time), so a page costs O(log N + page) and nothing ever scans all keys. Every change
that touches several keys runs in one MULTI/EXEC transaction; read-modify-write
changes WATCH the record and retry when someone else changed it meanwhile.

Keys (``{p}`` is the configured prefix, ``hippo`` by default)::

    {p}:queue:{id}                   queue definition (JSON)
    {p}:queue:{id}:state             poller state of the queue (JSON: last run, error, cursor)
    {p}:queues                       zset of queue ids
    {p}:task:{mesos_id}              task record (JSON)
    {p}:tasks                        zset of every task
    {p}:tasks:state:{STATE}          zset of tasks in a Hippo state
    {p}:tasks:family:{id}            zset of a family's tasks (a queue's tasks: family = queue id)
    {p}:tasks:family:{id}:state:{S}  zset of a family's tasks in a state
    {p}:attempts                     hash: attempt mesos id -> task mesos_id
    {p}:kills                        hash: attempt mesos id -> agent id, kills for the worker to send
    {p}:framework_id                 the Mesos framework id
    {p}:leader                       the leading worker's lease (token, with expiry)
    {p}:backend                      the leading worker's backend connection (JSON)
    {p}:wake                         pub/sub channel nudging the worker (new work, kills)
    {p}:events                       stream of task, queue, leader and backend events (capped)
    {p}:events:task:{mesos_id}       list: the task's history (its events, JSON, bounded)
    {p}:counts:{minute}              hash: launched, finished, ... in that minute (kept 2 hours)

Events go to the history, the stream and the counts in the same write as the change
they describe (:mod:`hippo_core.journal`), and are published to the hook once written.
"""

from __future__ import annotations

import collections
import functools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
import redis

from hippo_core import events, journal, records
from hippo_core.errors import NotFound, StoreUnavailable
from hippo_core.events import Event
from hippo_core.journal import EventsSettings
from hippo_core.records import Attempt, Queue, QueueState, Task
from hippo_core.taskstate import ACTIVE_STATES, State

T = TypeVar("T")
# Attempts whose kill must be requested with a write: [(attempt mesos id, agent id)].
KillsOf = Callable[[], list[tuple[str, str | None]]]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


# Records are stored with their format first, so that one in the current format is shown as
# it is stored, without parsing it: "{" followed by what comes after this prefix.
_CURRENT = f'{{"{records.FORMAT_KEY}":{records.FORMAT},'


def _dumps(record: Any) -> str:
    stamped = records.stamped(record)
    try:
        return orjson.dumps(stamped).decode()
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, say
        return json.dumps(stamped, separators=(",", ":"))


def _load(kind: str, raw: str) -> Any:
    """A stored record in the current format (upgraded if an older Hippo wrote it)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Not strict UTF-8 (a lone surrogate written by something else): the lenient parser.
        value = json.loads(raw)
    return records.upgrade(kind, value)


def _json_text(value: Any) -> str:
    """JSON of ``value`` that is UTF-8 text: a lone surrogate becomes U+FFFD."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: a surrogate, or an integer beyond 64 bits
        text = json.dumps(value, ensure_ascii=False)
        # Through UTF-16, which can carry a lone surrogate and then replaces it.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _public_json(kind: str, raw: str) -> str:
    """A stored record as JSON in the current format without ``format``, parsed only if older."""
    if raw.startswith(_CURRENT):
        return "{" + raw[len(_CURRENT) :]
    return _json_text(_load(kind, raw))


# Runs a list of commands only if KEYS[1] still holds ARGV[1]: an optimistic write in one trip.
# ... and answers what the key holds when it is not ARGV[1] (0 when nothing), so that the
# retry needs no read of its own; ARGV[3], when not '', is a channel to wake the worker on.
_CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then return current or 0 end
for _, op in ipairs(cjson.decode(ARGV[2])) do redis.call(unpack(op)) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""
_CAS_ATTEMPTS = 100
# The task an attempt belongs to, and its record, in one trip. (It builds the record's key
# from ARGV, so Hippo's keys must live on one Redis node: no Redis Cluster.)
_BY_ATTEMPT_SCRIPT = """
local mesos_id = redis.call('HGET', KEYS[1], ARGV[1])
if not mesos_id then return nil end
local raw = redis.call('GET', ARGV[2] .. mesos_id)
if not raw then return nil end
return {mesos_id, raw}
"""

# A task addressed by an attempt's mesos id or a family id (its newest), with its record.
_FIND_SCRIPT = """
local mesos_id = redis.call('HGET', KEYS[1], ARGV[1])
if not mesos_id then mesos_id = redis.call('ZREVRANGE', ARGV[2] .. ARGV[1], 0, 0)[1] end
if not mesos_id then return nil end
local raw = redis.call('GET', ARGV[3] .. mesos_id)
if not raw then return nil end
return {mesos_id, raw}
"""
# A page of an index, newest first: its size, then the records (those deleted meanwhile left out).
_PAGE_SCRIPT = """
local ids = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2])
local out = {redis.call('ZCARD', KEYS[1])}
if #ids == 0 then return out end
local keys = {}
for i, id in ipairs(ids) do keys[i] = ARGV[3] .. id end
for _, raw in ipairs(redis.call('MGET', unpack(keys))) do
  if raw then out[#out + 1] = raw end
end
return out
"""
# Queues with their poller state and task counts: for each id in ARGV[2..] the record (or
# false), the state (or false), the PENDING count and the count of ACTIVE_STATES (listed in
# ARGV[1], comma-separated). With KEYS[1] a zset of queue ids, ARGV[2], ARGV[3] are a
# page of it (offset, end) and its size comes first.
_QUEUES_SCRIPT = """
local p = ARGV[1]
local active = {}
for state in string.gmatch(ARGV[2], '[^,]+') do active[#active + 1] = state end
local ids, out = {}, {}
if #KEYS == 1 then
  ids = redis.call('ZREVRANGE', KEYS[1], ARGV[3], ARGV[4])
  out[1] = redis.call('ZCARD', KEYS[1])
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
for _, id in ipairs(ids) do
  local family = p .. ':tasks:family:' .. id .. ':state:'
  local n = 0
  for _, state in ipairs(active) do n = n + redis.call('ZCARD', family .. state) end
  out[#out + 1] = id
  out[#out + 1] = redis.call('GET', p .. ':queue:' .. id)
  out[#out + 1] = redis.call('GET', p .. ':queue:' .. id .. ':state')
  out[#out + 1] = redis.call('ZCARD', family .. 'PENDING')
  out[#out + 1] = n
end
return out
"""
# Writes the commands of ARGV[2] if queue KEYS[1] exists, lease KEYS[2] is ARGV[1] and
# KEYS[3] does not exist (each unless ''), then publishes ARGV[4] on channel ARGV[3] (unless '').
_CREATE_SCRIPT = """
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if KEYS[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
for _, op in ipairs(cjson.decode(ARGV[2])) do redis.call(unpack(op)) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""

C = TypeVar("C", bound=type)


def _redis_failures_are_unavailable(cls: C) -> C:
    """Every public method of ``cls`` raises :class:`StoreUnavailable` where Redis failed.

    Done once here rather than in each method, so that no caller of the store has to
    know the Redis client's exceptions, and no new method can forget to translate them.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not callable(member) or isinstance(member, classmethod | staticmethod):
            continue

        def translated(*args: Any, __method: Callable[..., Any] = member, **kwargs: Any) -> Any:
            try:
                return __method(*args, **kwargs)
            except redis.RedisError as exc:
                raise StoreUnavailable(f"Redis failed ({type(exc).__name__}: {exc})") from exc

        setattr(cls, name, functools.wraps(member)(translated))
    return cls


class RecordCache:
    """The newest task records this store read or wrote, as stored, for its next write of them.

    A worker writes each of its tasks several times in a row (launch, each update); with the
    record it last saw, a write is one round trip (the compare-and-set script) instead of
    two. A stale record costs nothing but the retry the script answers with the current
    one. Bounded: the least recently used go first.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._raw: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._attempts: dict[str, str] = {}
        self._lock = threading.Lock()

    def put(self, mesos_id: str, raw: str, task: Task) -> None:
        with self._lock:
            self._raw[mesos_id] = raw
            self._raw.move_to_end(mesos_id)
            for attempt in task["attempts"]:
                self._attempts[attempt["mesos_id"]] = mesos_id
            while len(self._raw) > self.size:
                self._raw.popitem(last=False)
            if len(self._attempts) > 2 * self.size:
                live = set(self._raw)
                self._attempts = {a: m for a, m in self._attempts.items() if m in live}

    def raw(self, mesos_id: str) -> str | None:
        with self._lock:
            return self._raw.get(mesos_id)

    def task_of(self, attempt_id: str) -> tuple[str, str] | None:
        """(mesos_id, record) of the task one of whose attempts is ``attempt_id``, if cached."""
        with self._lock:
            mesos_id = self._attempts.get(attempt_id)
            raw = self._raw.get(mesos_id) if mesos_id is not None else None
            return (mesos_id, raw) if mesos_id is not None and raw is not None else None

    def forget(self, mesos_id: str) -> None:
        with self._lock:
            self._raw.pop(mesos_id, None)


class WakeSubscription:
    """Nudges published by :meth:`Store.wake`, for the worker to act on at once.

    ``wait`` returns True when a nudge arrived within ``timeout`` seconds. Losing a nudge
    only costs latency, so a broken subscription raises :class:`StoreUnavailable` and the
    caller simply subscribes again.
    """

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            self._pubsub.subscribe(channel)
        except redis.RedisError as exc:
            self._pubsub.close()
            raise StoreUnavailable(f"cannot subscribe to {channel}: {exc}") from exc

    def wait(self, timeout: float) -> bool:
        try:
            return self._pubsub.get_message(timeout=timeout) is not None
        except redis.RedisError as exc:
            raise StoreUnavailable(f"wake-up channel lost: {exc}") from exc

    def close(self) -> None:
        self._pubsub.close()

    def __enter__(self) -> WakeSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@_redis_failures_are_unavailable
class Store:
    def __init__(
        self, client: redis.Redis, prefix: str = "hippo", events_settings: EventsSettings | None = None
    ) -> None:
        # Records are decoded here; the client must hand back str, not bytes.
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("Store needs a redis client created with decode_responses=True")
        # Any: redis-py's annotations cannot say that decode_responses=True gives str, not bytes.
        self.redis: Any = client
        self.p = prefix
        self.events_settings = events_settings or EventsSettings()
        self._cache: RecordCache | None = None
        self._cas = client.register_script(_CAS_SCRIPT)
        self._by_attempt = client.register_script(_BY_ATTEMPT_SCRIPT)
        self._find = client.register_script(_FIND_SCRIPT)
        self._page = client.register_script(_PAGE_SCRIPT)
        self._queues = client.register_script(_QUEUES_SCRIPT)
        self._create = client.register_script(_CREATE_SCRIPT)

    def cache_records(self, size: int) -> None:
        """Keep the last ``size`` task records read or written, for writing them in one round
        trip (:class:`RecordCache`); for a worker, which writes the same tasks again and again."""
        self._cache = RecordCache(size)

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "hippo", events_settings: EventsSettings | None = None
    ) -> Store:
        # Timeouts: a Redis that hangs must fail requests, not block the API and worker forever.
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            health_check_interval=30,
            socket_timeout=30,
            socket_connect_timeout=5,
        )
        return cls(client, prefix, events_settings)

    # -- keys -------------------------------------------------------------------------------

    def _queue_key(self, queue_id: str) -> str:
        return f"{self.p}:queue:{queue_id}"

    def _queue_state_key(self, queue_id: str) -> str:
        return f"{self.p}:queue:{queue_id}:state"

    def _task_key(self, mesos_id: str) -> str:
        return f"{self.p}:task:{mesos_id}"

    def _index(self, state: str | None = None, family: str | None = None) -> str:
        key = f"{self.p}:tasks"
        if family is not None:
            key += f":family:{family}"
        if state is not None:
            key += f":state:{state}"
        return key

    def _history_key(self, mesos_id: str) -> str:
        return f"{self.p}:events:task:{mesos_id}"

    @property
    def _stream_key(self) -> str:
        return f"{self.p}:events"

    def _journal(self, written: Iterable[Event]) -> list[list[Any]]:
        """The commands recording ``written`` events: task histories, the stream, the counts."""
        ops: list[list[Any]] = []
        history_limit = self.events_settings.history_per_task
        counts: dict[tuple[int, str], int] = {}
        for event in written:
            payload = journal.encode(event)
            if event.kind.startswith("task.") and event.task_id is not None and event.kind != "task.deleted":
                key = self._history_key(event.task_id)
                ops.append(["RPUSH", key, payload])
                ops.append(["LTRIM", key, -history_limit, -1])
            if journal.streamed(event):
                ops.append(
                    [
                        "XADD",
                        self._stream_key,
                        "MAXLEN",
                        "~",
                        self.events_settings.stream_length,
                        "*",
                        "e",
                        payload,
                    ]
                )
            name = journal.counted_as(event)
            if name is not None:
                slot = (journal.minute_of(event), name)
                counts[slot] = counts.get(slot, 0) + 1
        for (minute, name), n in counts.items():
            key = f"{self.p}:counts:{minute}"
            ops.append(["HINCRBY", key, name, n])
            ops.append(["EXPIRE", key, journal.COUNTS_KEPT_SECONDS])
        return ops

    @staticmethod
    def _run(pipe: Any, ops: list[list[Any]]) -> None:
        for op in ops:
            pipe.execute_command(*op)

    @property
    def wake_channel(self) -> str:
        return f"{self.p}:wake"

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def close(self) -> None:
        """Close the connections to Redis (the store must not be used afterwards)."""
        self.redis.close()

    # -- queues -----------------------------------------------------------------------------

    def create_queue(self, record: Queue) -> None:
        written = events.queue_events(None, record)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._queue_key(record["id"]), _dumps(record))
            pipe.zadd(f"{self.p}:queues", {record["id"]: record["created_at"]})
            self._run(pipe, self._journal(written))
            pipe.execute()
        events.publish(*written)
        self.wake()

    def get_queue(self, queue_id: str) -> Queue:
        raw = self.redis.get(self._queue_key(queue_id))
        if raw is None:
            raise NotFound("queue", queue_id)
        return _load("queue", raw)

    def get_queues(
        self, queue_ids: Iterable[str], reuse: dict[str, tuple[str, Queue]] | None = None
    ) -> list[Queue]:
        """The queues that still exist among ``queue_ids``, in that order.

        ``reuse`` (id -> (stored JSON, record) of an earlier call, updated here) spares
        parsing queues unchanged since: their earlier record is returned, the same object
        (so the caller must not change it). For the poller, which reads every queue each second.
        """
        ids = list(queue_ids)
        if reuse is None:
            return self._mget("queue", [self._queue_key(i) for i in ids])
        if not ids:
            return []
        out = []
        for queue_id, raw in zip(ids, self.redis.mget([self._queue_key(i) for i in ids]), strict=True):
            if raw is None:
                reuse.pop(queue_id, None)
                continue
            known = reuse.get(queue_id)
            if known is None or known[0] != raw:
                known = reuse[queue_id] = (raw, _load("queue", raw))
            out.append(known[1])
        return out

    def queue_ids(self) -> list[str]:
        return self.redis.zrange(f"{self.p}:queues", 0, -1)

    def list_queues(self, offset: int = 0, limit: int = 100) -> Page[Queue]:
        ids = self.redis.zrevrange(f"{self.p}:queues", offset, offset + limit - 1)
        total = self.redis.zcard(f"{self.p}:queues")
        return Page(self._mget("queue", [self._queue_key(i) for i in ids]), total, offset, limit)

    def queues_with_runtime(
        self, queue_ids: list[str] | None = None, offset: int = 0, limit: int = 100
    ) -> Page[tuple[Queue, QueueState, dict[str, int]]]:
        """Queues (those of ``queue_ids``, else a page of all, newest first), each with its
        poller state and ``active`` and ``pending`` task counts, in one round trip."""
        active = ",".join(sorted(ACTIVE_STATES))
        if queue_ids is None:
            total, *flat = self._queues(
                keys=[f"{self.p}:queues"], args=[self.p, active, offset, offset + limit - 1]
            )
        else:
            flat = self._queues(keys=[], args=[self.p, active, *queue_ids]) if queue_ids else []
            total = len(queue_ids)
        items = []
        for i in range(0, len(flat), 5):
            _, raw, state_raw, pending, running = flat[i : i + 5]
            if raw is None:
                continue  # deleted between the index and the read
            state: QueueState = _load("queue_state", state_raw) if state_raw else {}
            items.append((_load("queue", raw), state, {"active": int(running), "pending": int(pending)}))
        return Page(items, int(total), offset, limit)

    def update_queue(self, queue_id: str, change: Callable[[Queue], Queue]) -> Queue:
        """Apply ``change`` to the stored queue atomically (retried if it changed meanwhile)."""
        key = self._queue_key(queue_id)

        def apply(pipe: Any) -> tuple[Queue, list[Event]]:
            raw = pipe.get(key)
            if raw is None:
                raise NotFound("queue", queue_id)
            new = change(_load("queue", raw))
            written = events.queue_events(_load("queue", raw), new)
            pipe.multi()
            pipe.set(key, _dumps(new))
            self._run(pipe, self._journal(written))
            return new, written

        new, written = self.redis.transaction(apply, key, value_from_callable=True)
        events.publish(*written)
        self.wake()
        return new

    def delete_queue(self, queue_id: str) -> None:
        key = self._queue_key(queue_id)

        def apply(pipe: Any) -> list[Event]:
            raw = pipe.get(key)
            if raw is None:
                raise NotFound("queue", queue_id)
            written = events.queue_events(_load("queue", raw), None)
            pipe.multi()
            pipe.delete(key, self._queue_state_key(queue_id))
            pipe.zrem(f"{self.p}:queues", queue_id)
            self._run(pipe, self._journal(written))
            return written

        events.publish(*self.redis.transaction(apply, key, value_from_callable=True))

    def get_queue_states(self, queue_ids: list[str]) -> list[QueueState]:
        if not queue_ids:
            return []
        raws = self.redis.mget([self._queue_state_key(q) for q in queue_ids])
        return [_load("queue_state", r) if r else {} for r in raws]

    def get_queue_runtime(self, queue_ids: list[str]) -> list[tuple[QueueState, dict[str, int]]]:
        """Each queue's poller state and its ``active`` and ``pending`` task counts, in one round trip."""
        if not queue_ids:
            return []
        active = sorted(ACTIVE_STATES)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([self._queue_state_key(q) for q in queue_ids])
            for queue_id in queue_ids:
                pipe.zcard(self._index(state=State.PENDING, family=queue_id))
                for active_state in active:
                    pipe.zcard(self._index(state=active_state, family=queue_id))
            raws, *counts = pipe.execute()
        n = 1 + len(active)
        out: list[tuple[QueueState, dict[str, int]]] = []
        for i, raw in enumerate(raws):
            mine = counts[i * n : (i + 1) * n]
            queue_state: QueueState = _load("queue_state", raw) if raw else {}
            out.append((queue_state, {"active": sum(mine[1:]), "pending": mine[0]}))
        return out

    def set_queue_state(
        self, queue_id: str, state: QueueState, fence: str | None = None, journal: Iterable[Event] = ()
    ) -> bool:
        """Store the queue's poller state, unless the queue is gone or the fence fails (False)."""
        return self.create_tasks([], queue_id=queue_id, queue_state=state, fence=fence, journal=journal)

    # -- tasks ------------------------------------------------------------------------------

    def _task_ops(self, task: Task, raw: str) -> list[list[Any]]:
        """The commands storing a new task: its record, its four index entries, its attempts."""
        score = repr(task["created_at"])
        mesos_id, family, state = task["mesos_id"], task["id"], task["state"]
        ops: list[list[Any]] = [["SET", self._task_key(mesos_id), raw]]
        for index in (
            self._index(),
            self._index(state=state),
            self._index(family=family),
            self._index(state=state, family=family),
        ):
            ops.append(["ZADD", index, score, mesos_id])
        attempts: list[Any] = [x for a in task["attempts"] for x in (a["mesos_id"], mesos_id)]
        ops.append(["HSET", f"{self.p}:attempts", *attempts])
        return ops

    def create_tasks(
        self,
        tasks: list[Task],
        queue_id: str | None = None,
        queue_state: QueueState | None = None,
        fence: str | None = None,
        journal: Iterable[Event] = (),
        unless_queue: str | None = None,
    ) -> bool:
        """Store new tasks (and a queue's poller state with them) in one transaction.

        This is the custody point of the poller: after it returns True, the items the
        tasks carry are durably in Redis together with the cursor that skips them. With
        ``queue_id``, nothing is written and False returned if that queue no longer exists;
        with ``fence`` (a leader lease token), likewise if the lease is not that token's;
        with ``unless_queue``, likewise if a queue of that id exists. ``journal``: events of
        the caller's own (a poll) recorded with the write; the caller publishes them. The
        tasks' ``task.created`` events are recorded and published here. One round trip
        (a script checks the conditions and writes), which also wakes the worker.
        """
        created = [event for task in tasks for event in events.task_events(None, task)]
        raws = [_dumps(task) for task in tasks]
        ops = [op for task, raw in zip(tasks, raws, strict=True) for op in self._task_ops(task, raw)]
        if queue_id is not None and queue_state is not None:
            ops.append(["SET", self._queue_state_key(queue_id), _dumps(queue_state)])
        ops.extend(self._journal([*created, *journal]))
        keys = [
            self._queue_key(queue_id) if queue_id is not None else "",
            f"{self.p}:leader" if fence is not None else "",
            self._queue_key(unless_queue) if unless_queue is not None else "",
        ]
        wake = [self.wake_channel, str(time.time())] if tasks else ["", ""]
        written = bool(self._create(keys=keys, args=[fence or "", orjson.dumps(ops).decode(), *wake]))
        if written and self._cache is not None:
            for task, raw in zip(tasks, raws, strict=True):
                self._cache.put(task["mesos_id"], raw, task)
        if written and tasks:
            events.publish(*created)
        return written

    def get_task(self, mesos_id: str) -> Task:
        raw = self.redis.get(self._task_key(mesos_id))
        if raw is None:
            raise NotFound("task", mesos_id)
        return _load("task", raw)

    def get_tasks(self, mesos_ids: Iterable[str]) -> list[Task]:
        keys = [self._task_key(m) for m in mesos_ids]
        if not keys:
            return []
        tasks = []
        # A record deleted between the index read and MGET is simply left out.
        for raw in self.redis.mget(keys):
            if raw is not None:
                task = _load("task", raw)
                if self._cache is not None:
                    self._cache.put(task["mesos_id"], raw, task)
                tasks.append(task)
        return tasks

    def task_for_attempt(self, attempt_mesos_id: str) -> str | None:
        """The mesos_id of the task one of whose attempts is ``attempt_mesos_id``."""
        return self.redis.hget(f"{self.p}:attempts", attempt_mesos_id)

    def newest_of_family(self, family: str) -> str | None:
        newest = self.redis.zrevrange(self._index(family=family), 0, 0)
        return newest[0] if newest else None

    def list_tasks(
        self, state: str | None = None, family: str | None = None, offset: int = 0, limit: int = 100
    ) -> Page:
        """Tasks newest first, optionally only one state and/or one family."""
        index = self._index(state=state, family=family)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(index, offset, offset + limit - 1)
            pipe.zcard(index)
            ids, total = pipe.execute()
        return Page(self.get_tasks(ids), total, offset, limit)

    def find_task_json(self, ident: str) -> tuple[str, str] | None:
        """The task ``ident`` addresses (an attempt's mesos id, or a family: its newest task),
        as its mesos id and its record's JSON, in one round trip; ``None`` if there is none."""
        found = self._find(
            keys=[f"{self.p}:attempts"], args=[ident, f"{self._index()}:family:", f"{self.p}:task:"]
        )
        if not found:
            return None
        mesos_id, raw = found
        return mesos_id, _public_json("task", raw)

    def list_tasks_json(
        self, state: str | None = None, family: str | None = None, offset: int = 0, limit: int = 100
    ) -> Page[str]:
        """``list_tasks`` as the records' JSON, in one round trip and parsing none in the current format."""
        total, *raws = self._page(
            keys=[self._index(state=state, family=family)],
            args=[offset, offset + limit - 1, f"{self.p}:task:"],
        )
        return Page([_public_json("task", raw) for raw in raws], int(total), offset, limit)

    def task_ids(
        self, state: str | None = None, family: str | None = None, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Task ids of an index, oldest first (``limit`` None: all from ``offset``)."""
        end = -1 if limit is None else offset + limit - 1
        return self.redis.zrange(self._index(state=state, family=family), offset, end)

    def count(self, state: str | None = None, family: str | None = None) -> int:
        return self.redis.zcard(self._index(state=state, family=family))

    def count_tasks(self, states: Iterable[str], families: Iterable[str]) -> dict[str, int]:
        """For each family, how many of its tasks are in any of ``states``."""
        families = list(dict.fromkeys(families))
        states = list(states)
        with self.redis.pipeline(transaction=False) as pipe:
            for family in families:
                for state in states:
                    pipe.zcard(self._index(state=state, family=family))
            counts = pipe.execute()
        n = len(states)
        return {f: sum(counts[i * n : (i + 1) * n]) for i, f in enumerate(families)}

    def state_counts(self) -> dict[str, int]:
        with self.redis.pipeline(transaction=False) as pipe:
            for state in State:
                pipe.zcard(self._index(state=state))
            return dict(zip(State, pipe.execute(), strict=True))

    def update_task(
        self, mesos_id: str, change: Callable[[Task], Task | None], kills: KillsOf | None = None
    ) -> Task | None:
        """Apply ``change`` to the stored task atomically, moving it between state indexes.

        ``change`` gets a copy of the record and returns the new one, or ``None`` to leave
        it unchanged. It may run more than once if the task changed concurrently, so it
        must not have side effects. Returns the stored record (new, or unchanged).

        Two round trips: read the record, then one script that writes everything only if
        the record is still what was read (compare-and-set), else the change is re-run.
        ``kills``, called after ``change``, names attempts (mesos id, agent id) whose kill
        requests are written in the same transaction.
        """
        raw = self._cache.raw(mesos_id) if self._cache is not None else None
        return self._update(mesos_id, raw, change, [], kills)

    def update_task_of_attempt(
        self,
        attempt_mesos_id: str,
        change: Callable[[Task], Task | None],
        forget_kill: bool = False,
        kills: KillsOf | None = None,
    ) -> Task | None:
        """``update_task`` on the task one of whose attempts is ``attempt_mesos_id``.

        Returns ``None`` when no task has that attempt. With ``forget_kill`` the attempt's
        kill request (if any) is dropped in the same write: it has ended.
        """
        if self._cache is not None:
            known = self._cache.task_of(attempt_mesos_id)
            if known is not None:
                extra = [["HDEL", f"{self.p}:kills", attempt_mesos_id]] if forget_kill else []
                try:
                    return self._update(known[0], known[1], change, extra, kills)
                except NotFound:
                    self._cache.forget(known[0])  # deleted meanwhile: as if never cached
        found = self._by_attempt(keys=[f"{self.p}:attempts"], args=[attempt_mesos_id, f"{self.p}:task:"])
        if not found:
            return None
        mesos_id, raw = found
        extra = [["HDEL", f"{self.p}:kills", attempt_mesos_id]] if forget_kill else []
        return self._update(mesos_id, raw, change, extra, kills)

    def _update(
        self,
        mesos_id: str,
        raw: str | None,
        change: Callable[[Task], Task | None],
        extra: list[list[Any]],
        kills: KillsOf | None = None,
    ) -> Task | None:
        key = self._task_key(mesos_id)
        for _ in range(_CAS_ATTEMPTS):
            if raw is None:
                raw = self.redis.get(key)
            if raw is None:
                if self._cache is not None:
                    self._cache.forget(mesos_id)
                raise NotFound("task", mesos_id)
            old = _load("task", raw)
            new = change(_load("task", raw))
            requested = kills() if kills is not None else []
            writes = extra + [["HSET", f"{self.p}:kills", a, agent or ""] for a, agent in requested]
            if new is None:
                if writes:
                    with self.redis.pipeline(transaction=True) as pipe:
                        for op in writes:
                            pipe.execute_command(*op)
                        pipe.execute()
                    if requested:
                        self.wake()
                return old
            stored = _dumps(new)
            ops: list[list[Any]] = [["SET", key, stored], *writes]
            if new["state"] != old["state"]:
                for family in (None, old["id"]):
                    ops.append(["ZREM", self._index(state=old["state"], family=family), mesos_id])
                    ops.append(
                        [
                            "ZADD",
                            self._index(state=new["state"], family=family),
                            repr(old["created_at"]),
                            mesos_id,
                        ]
                    )
            known = {a["mesos_id"] for a in old["attempts"]}
            for attempt in new["attempts"]:
                if attempt["mesos_id"] not in known:
                    ops.append(["HSET", f"{self.p}:attempts", attempt["mesos_id"], mesos_id])
            # The history and the hook get the very same events, written with the change.
            written = events.task_events(old, new)
            ops.extend(self._journal(written))
            wake = [self.wake_channel, str(time.time())] if requested else ["", ""]
            result = self._cas(keys=[key], args=[raw, orjson.dumps(ops).decode(), *wake])
            if result == 1:
                if self._cache is not None:
                    self._cache.put(mesos_id, stored, new)
                events.publish(*written)
                return new
            # Changed meanwhile: the script answered what it holds now (0: it is gone).
            raw = result if isinstance(result, str) else None
            if raw is None:
                if self._cache is not None:
                    self._cache.forget(mesos_id)
                raise NotFound("task", mesos_id)
        raise StoreUnavailable(
            f"task {mesos_id} kept changing; gave up writing it after {_CAS_ATTEMPTS} tries"
        )

    def delete_task(self, mesos_id: str, guard: Callable[[Task], None] | None = None) -> Task:
        """Delete the task as it is now, atomically; returns the record deleted.

        ``guard`` sees the current record and may refuse by raising. A task deleted while
        active has its current attempt queued for a kill in the same transaction, so
        nothing keeps running unseen.
        """
        key = self._task_key(mesos_id)

        def apply(pipe: Any) -> tuple[Task, list[Event]]:
            raw = pipe.get(key)
            if raw is None:
                raise NotFound("task", mesos_id)
            task = _load("task", raw)
            if guard is not None:
                guard(task)
            written = events.task_events(task, None)
            pipe.multi()
            pipe.delete(key, self._history_key(mesos_id))
            self._run(pipe, self._journal(written))
            for index in (
                self._index(),
                self._index(state=task["state"]),
                self._index(family=task["id"]),
                self._index(state=task["state"], family=task["id"]),
            ):
                pipe.zrem(index, mesos_id)
            pipe.hdel(f"{self.p}:attempts", *[a["mesos_id"] for a in task["attempts"]])
            if task["state"] in ACTIVE_STATES:
                self._queue_kill(pipe, task["attempts"][-1])
            return task, written

        task, written = self.redis.transaction(apply, key, value_from_callable=True)
        if self._cache is not None:
            self._cache.forget(mesos_id)
        events.publish(*written)
        if task["state"] in ACTIVE_STATES:
            self.wake()
        return task

    def task_history(self, mesos_id: str) -> list[dict[str, Any]]:
        """The task's events, oldest first (the newest ``history_per_task`` of them)."""
        return [journal.decode(raw) for raw in self.redis.lrange(self._history_key(mesos_id), 0, -1)]

    def family_counts(
        self, families: Iterable[str], states: Iterable[str] = tuple(State)
    ) -> dict[str, dict[str, int]]:
        """For each family, how many of its tasks are in each of ``states`` (one round trip)."""
        families = list(dict.fromkeys(families))
        states = list(states)
        with self.redis.pipeline(transaction=False) as pipe:
            for family in families:
                for state in states:
                    pipe.zcard(self._index(state=state, family=family))
            counts = pipe.execute()
        n = len(states)
        return {
            f: dict(zip(states, counts[i * n : (i + 1) * n], strict=True)) for i, f in enumerate(families)
        }

    def tasks_by_state_and_queue(self) -> dict[tuple[str, str], int]:
        """How many tasks are in each state, per queue (``""``: one-off tasks), in two round trips."""
        queue_ids = self.queue_ids()
        with self.redis.pipeline(transaction=False) as pipe:
            for state in State:
                pipe.zcard(self._index(state=state))
            for queue_id in queue_ids:
                for state in State:
                    pipe.zcard(self._index(state=state, family=queue_id))
            counts = pipe.execute()
        n = len(State)
        out: dict[tuple[str, str], int] = {}
        one_off = dict(zip(State, counts[:n], strict=True))
        for i, queue_id in enumerate(queue_ids, start=1):
            for state, count in zip(State, counts[i * n : (i + 1) * n], strict=True):
                out[(state.value, queue_id)] = count
                one_off[state] -= count
        for state, count in one_off.items():
            out[(state.value, "")] = count
        return out

    def recent_counts(self, minutes: int = 60, now: float | None = None) -> dict[str, int]:
        """Tasks launched, finished, failed, retried and killed in the last ``minutes`` minutes."""
        current = int((time.time() if now is None else now) // 60)
        with self.redis.pipeline(transaction=False) as pipe:
            for minute in range(current - minutes + 1, current + 1):
                pipe.hgetall(f"{self.p}:counts:{minute}")
            buckets = pipe.execute()
        totals = dict.fromkeys(journal.COUNT_NAMES, 0)
        for bucket in buckets:
            for name, value in bucket.items():
                if name in totals:
                    totals[name] += int(value)
        return totals

    # -- the event stream -------------------------------------------------------------------

    def append_events(self, written: Iterable[Event]) -> None:
        """Record events nobody stored with a write of theirs (the worker's leader and backend)."""
        ops = self._journal(written)
        if ops:
            with self.redis.pipeline(transaction=True) as pipe:
                self._run(pipe, ops)
                pipe.execute()

    def read_events(
        self, after: str | None, block_seconds: float, count: int = 500
    ) -> list[tuple[str, dict[str, Any]]]:
        """Stream events after id ``after`` (``None``: from now), waiting up to ``block_seconds``."""
        answer = self.redis.xread(
            {self._stream_key: after or "$"}, count=count, block=max(1, int(block_seconds * 1000))
        )
        if not answer:
            return []
        return [(entry_id, journal.decode(fields["e"])) for entry_id, fields in answer[0][1]]

    def last_event_id(self) -> str | None:
        """The id of the newest event in the stream (``None`` while it is empty)."""
        newest = self.redis.xrevrange(self._stream_key, count=1)
        return newest[0][0] if newest else None

    def first_event_id(self) -> str | None:
        """The id of the oldest event the stream still holds."""
        oldest = self.redis.xrange(self._stream_key, count=1)
        return oldest[0][0] if oldest else None

    # -- the leader's backend ---------------------------------------------------------------

    def set_backend_status(self, status: dict[str, Any]) -> None:
        self.redis.set(f"{self.p}:backend", json.dumps(status))

    def backend_status(self) -> dict[str, Any] | None:
        raw = self.redis.get(f"{self.p}:backend")
        return json.loads(raw) if raw else None

    # -- kills ------------------------------------------------------------------------------

    def _queue_kill(self, pipe: Any, attempt: Attempt) -> None:
        pipe.hset(f"{self.p}:kills", attempt["mesos_id"], attempt.get("agent_id") or "")

    def request_kill(self, attempt_mesos_id: str, agent_id: str | None) -> None:
        self.redis.hset(f"{self.p}:kills", attempt_mesos_id, agent_id or "")
        self.wake()

    def kill_requests(self) -> dict[str, str | None]:
        raw = self.redis.hgetall(f"{self.p}:kills")
        return {k: (v or None) for k, v in raw.items()}

    def kill_sent(self, attempt_mesos_id: str) -> None:
        self.redis.hdel(f"{self.p}:kills", attempt_mesos_id)

    # -- framework and leadership -----------------------------------------------------------

    def framework_id(self) -> str | None:
        return self.redis.get(f"{self.p}:framework_id")

    def set_framework_id(self, framework_id: str | None) -> None:
        if framework_id is None:
            self.redis.delete(f"{self.p}:framework_id")
        else:
            self.redis.set(f"{self.p}:framework_id", framework_id)

    def acquire_lease(self, token: str, seconds: float) -> bool:
        """Take or renew the leader lease for ``token``; False while someone else holds it."""
        script = (
            "local v = redis.call('GET', KEYS[1]) "
            "if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
            "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
            "return 0"
        )
        return bool(self.redis.eval(script, 1, f"{self.p}:leader", token, int(seconds * 1000)))

    def release_lease(self, token: str) -> None:
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
        )
        self.redis.eval(script, 1, f"{self.p}:leader", token)

    def leader(self) -> str | None:
        return self.redis.get(f"{self.p}:leader")

    def leader_lease(self) -> tuple[str | None, float | None]:
        """The leader's lease token and the seconds it has left (``None, None``: nobody leads)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(f"{self.p}:leader")
            pipe.pttl(f"{self.p}:leader")
            token, ttl = pipe.execute()
        if token is None:
            return None, None
        return token, (ttl / 1000 if ttl is not None and ttl >= 0 else None)

    # -- wake-ups ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Nudge the worker: there may be new work or kills. Losing a nudge only costs latency."""
        self.redis.publish(self.wake_channel, str(time.time()))

    def subscribe_wake(self) -> WakeSubscription:
        """Listen for :meth:`wake` nudges (close the subscription when done)."""
        return WakeSubscription(self.redis, self.wake_channel)

    # -- helpers ----------------------------------------------------------------------------

    def _mget(self, kind: str, keys: Iterable[str]) -> list[Any]:
        keys = list(keys)
        if not keys:
            return []
        # A record deleted between the index read and MGET is simply left out.
        return [_load(kind, raw) for raw in self.redis.mget(keys) if raw is not None]
