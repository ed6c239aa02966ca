"""Amazon S3 bucket queue type (``s3bucket``): one Hippo item per new object in a bucket.

Item
    ``data`` is the object's key (e.g. ``incoming/2024/05/01/scan-17.tiff``). Items come
    oldest first: by LastModified, then by key. An object overwritten later is new
    again and gives another item. Zero-byte keys ending in ``/`` (the "folders" the S3
    console creates) are not items.

Settings
    ``bucket_name`` (required)
        The bucket, 3-255 characters.
    ``prefix`` (default ``""``)
        Only keys starting with it; empty means the whole bucket.
    ``earliest_unix_tstamp`` (default ``null``, 0-253402300799, the last second of 9999)
        Objects last modified at or before this Unix time are ignored; ``null`` takes
        every object in the bucket. Changing it restarts the queue from the new point.
    ``settle_seconds`` (default ``0``, 0-86400)
        Hand out an object only once its LastModified is at least this many seconds
        old (by this machine's clock); see "Known limit" below.
    ``awsregion`` (default ``"us-east-1"``)
        Region the bucket lives in.
    ``awskey``, ``awssecret`` (default ``null``; ``awssecret`` is masked)
        An access key pair. Give both, or neither to use boto3's standard credential
        chain (``AWS_*`` environment variables, ``~/.aws`` files, instance or task role).
    ``endpoint_url`` (default ``null``)
        An S3-compatible endpoint (MinIO, LocalStack, moto) instead of AWS; it is
        addressed path-style (``<endpoint>/<bucket>/<key>``). An ``http(s)://`` URL with
        a host name and no ``user:password@`` (Hippo shows this setting unmasked;
        credentials go in ``awskey`` and ``awssecret``).

Cursor and custody
    S3 cannot list "what changed since", so every poll lists the whole bucket (or
    prefix), page by page, and keeps the ``limit`` oldest objects not yet handed out.
    A prefix keeps large buckets cheap to poll. The cursor is::

        {"last_modified": "2024-05-01T12:00:07.000000Z", "keys": ["a.csv", "b.csv"]}

    meaning: every object modified before ``last_modified`` has been handed out, and
    of those modified exactly then, the ones named in ``keys``. S3 keeps LastModified
    to the second, so many objects can share one; keeping their keys lets a poll whose
    ``limit`` stops inside such a group, or an object that lands in the same second
    after a poll, be picked up next time: nothing runs twice and nothing is skipped.
    ``keys`` only ever holds the objects of one second. A queue starts from ``null``
    (no ``earliest_unix_tstamp``: everything is new) or from the instant just after
    ``earliest_unix_tstamp``. Nothing is deleted or changed in the bucket: Hippo
    stores the cursor with the tasks, so no ack is needed, and a crash before that
    store repeats the poll from the old cursor.

    What resets the cursor: the cursor only means something for the objects it was
    taken from, so Hippo drops it (and starts again from ``earliest_unix_tstamp``) when
    ``bucket_name``, ``prefix`` or the server of ``endpoint_url`` changes
    (``source_identity``), or when ``earliest_unix_tstamp`` changes. Changing the
    credentials, ``awsregion`` (a bucket name is global: another region is the same
    bucket or an error), ``settle_seconds`` or how ``endpoint_url`` is written
    (``http://minio:80/`` is ``http://minio``) keeps it.

    Known limit: S3 dates an object uploaded in parts by when its upload started,
    but lists it only once the upload completes. If newer objects were handed out
    meanwhile, the cursor is already past its LastModified and it never becomes an
    item. Set ``settle_seconds`` above the longest upload (plus clock skew) for such
    buckets: objects are then handed out that much later, and not skipped.

Errors
    Transient (:class:`S3TransientError`, retried soon): the endpoint cannot be
    reached or times out, S3 throttles (SlowDown) or answers with a server error.
    Permanent (:class:`~hippo_core.queuetype.QueueTypeError`): no such bucket, the
    bucket lives in another region, missing or rejected credentials, access denied.
    Every message names the bucket.

Example (create such a queue through Hippo's API)::

    curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
      "cmd": "process-scan $HIPPO_DATA",
      "container": {"docker": {"image": "example/scanner:2.1"}},
      "queue": {
        "type": "s3bucket", "name": "scans",
        "s3bucket": {"bucket_name": "example-scans", "prefix": "incoming/",
                     "earliest_unix_tstamp": 1714521600, "awsregion": "eu-west-1",
                     "awskey": "AKIA...", "awssecret": "..."}
      }
    }'
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, ClassVar
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from hippo_core import aws
from hippo_core.queuetype import JSON, Item, PollResult, QueueType, QueueTypeError

__all__ = ["Position", "S3BucketQueueType", "S3TransientError"]

SCHEMA: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
)

_MISSING_BUCKET_CODES = {"NoSuchBucket"}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "AccountProblem"}
_WRONG_REGION_CODES = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
}
_PERMISSIONS = "the credentials need s3:ListBucket on the bucket"


class S3TransientError(QueueTypeError):
    """An S3 failure worth retrying soon: network trouble, throttling, a server error."""


@dataclass(frozen=True, order=True)
class S3Object:
    """A listed object, ordered the way items are handed out: oldest first, then by key."""

    last_modified: datetime
    key: str


@dataclass(frozen=True)
class Position:
    """How far the bucket has been handed out; the cursor is its JSON form.

    Every object modified before ``last_modified`` is done, and of those modified
    exactly then, the ones in ``keys``. ``last_modified`` ``None``: nothing is done.
    """

    last_modified: datetime | None = None
    keys: frozenset[str] = frozenset()

    @classmethod
    def after_unix_time(cls, tstamp: float) -> Position:
        """Everything modified at or before ``tstamp`` counts as done."""
        # Datetimes are exact to the microsecond, so nothing lies between tstamp and this.
        return cls(datetime.fromtimestamp(tstamp, UTC) + timedelta(microseconds=1))

    @classmethod
    def from_cursor(cls, cursor: JSON) -> Position:
        if cursor is None:
            return cls()
        try:
            keys = cursor["keys"]
            last_modified = datetime.fromisoformat(cursor["last_modified"])
            if last_modified.tzinfo is None or not all(isinstance(k, str) for k in keys):
                raise ValueError("naive time or non-string keys")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{cursor!r} is not an s3bucket cursor ({exc})") from exc
        return cls(last_modified.astimezone(UTC), frozenset(keys))

    def to_cursor(self) -> JSON:
        if self.last_modified is None:
            return None
        return {
            "last_modified": self.last_modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "keys": sorted(self.keys),
        }

    def is_new(self, obj: S3Object) -> bool:
        if self.last_modified is None or obj.last_modified > self.last_modified:
            return True
        return obj.last_modified == self.last_modified and obj.key not in self.keys

    def advanced_past(self, taken: list[S3Object]) -> Position:
        """The position once ``taken`` (new objects, oldest first) are handed out too."""
        if not taken:
            return self
        newest = taken[-1].last_modified
        keys = {obj.key for obj in taken if obj.last_modified == newest}
        if newest == self.last_modified:
            keys |= self.keys
        return Position(newest, frozenset(keys))


class S3BucketQueueType(QueueType):
    """Runs a task for each new object of an S3 bucket; see the module docstring."""

    name: ClassVar[str] = "s3bucket"
    label: ClassVar[str] = "Amazon S3 bucket (new objects)"
    schema: ClassVar[dict[str, Any]] = SCHEMA
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (S3TransientError,)

    # Keys per ListObjectsV2 page; S3's own maximum. Tests lower it to cross pages.
    page_size: int = 1000

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.where = f"S3 bucket {settings['bucket_name']!r} in {settings['awsregion']}"
        self._client = _s3_client(settings, self.where)

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        return aws.credential_pair_errors(settings) + aws.endpoint_errors(settings.get("endpoint_url"))

    @classmethod
    def source_identity(cls, settings: dict[str, Any]) -> JSON:
        # The region is left out: a bucket's name is global, so another region is the same
        # bucket (or an error), never another bucket's objects.
        return {
            "bucket": settings["bucket_name"],
            "prefix": settings["prefix"],
            "endpoint": _endpoint_identity(settings.get("endpoint_url")),
        }

    @classmethod
    def initial_cursor(cls, settings: dict[str, Any]) -> JSON:
        earliest = settings.get("earliest_unix_tstamp")
        if earliest is None:
            return None
        return Position.after_unix_time(earliest).to_cursor()

    def poll(self, limit: int, cursor: JSON) -> PollResult:
        try:
            position = Position.from_cursor(cursor)
        except ValueError as exc:
            raise QueueTypeError(f"{self.where}: the stored cursor is unusable: {exc}") from exc
        settled_before = datetime.now(UTC) - timedelta(seconds=self.settings["settle_seconds"])

        def ready(obj: S3Object) -> bool:
            return position.is_new(obj) and obj.last_modified <= settled_before

        with self._translate("list"):
            # The oldest `limit` only: memory stays bounded however far behind the cursor is.
            taken = heapq.nsmallest(limit, filter(ready, self._objects()))
        return PollResult(
            items=[Item(data=obj.key) for obj in taken],
            cursor=position.advanced_past(taken).to_cursor(),
        )

    def close(self) -> None:
        self._client.close()

    def _objects(self) -> Iterator[S3Object]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings["bucket_name"],
            Prefix=self.settings["prefix"],
            PaginationConfig={"PageSize": self.page_size},
        )
        for page in pages:
            for entry in page.get("Contents", []):
                if entry["Key"].endswith("/") and entry.get("Size") == 0:
                    continue
                yield S3Object(entry["LastModified"].astimezone(UTC), entry["Key"])

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise _bucket_error(exc, f"cannot {action} {self.where}") from exc


def _s3_client(settings: dict[str, Any], where: str) -> Any:
    # S3-compatible servers rarely resolve <bucket>.<host> names; AWS accepts both.
    style = "path" if settings.get("endpoint_url") else "auto"
    return aws.make_client("s3", settings, where, read_timeout=60, s3={"addressing_style": style})


def _endpoint_identity(endpoint: str | None) -> str | None:
    """The server ``endpoint`` names, written one way (``http://minio:9000``); ``None``: AWS."""
    if endpoint is None:
        return None
    parts = urlsplit(endpoint)
    try:
        port_number = parts.port
    except ValueError:  # refused by validate(); a queue stored before then cannot poll anyway
        port_number = None
    default_port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{port_number}" if port_number not in (None, default_port) else ""
    return f"{parts.scheme.lower()}://{parts.hostname or ''}{port}{parts.path.rstrip('/')}"


def _bucket_error(exc: BotoCoreError | ClientError, context: str) -> QueueTypeError:
    """The error a user sees for a failed S3 call: what went wrong and what to do."""
    early = aws.connection_error(exc, context, S3TransientError)
    if early is not None:
        return early
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    metadata = exc.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode", 0)
    if code in _MISSING_BUCKET_CODES:
        return QueueTypeError(f"{context}: the bucket does not exist; create it, or fix bucket_name")
    if code in _CREDENTIAL_CODES:
        return QueueTypeError(f"{context}: AWS rejected the credentials ({code}); check awskey and awssecret")
    if code in _WRONG_REGION_CODES or status == 301:
        region = error.get("Region") or metadata.get("HTTPHeaders", {}).get("x-amz-bucket-region")
        hint = f"set awsregion to {region!r}" if region else "fix awsregion"
        return QueueTypeError(f"{context}: the bucket is in another region ({code}); {hint}")
    if code in _DENIED_CODES:
        return QueueTypeError(f"{context}: access denied ({code}); {_PERMISSIONS}")
    if status in (401, 403):
        return QueueTypeError(
            f"{context}: AWS refused the request (HTTP {status}); check awskey and awssecret; " + _PERMISSIONS
        )
    if code in _TRANSIENT_CODES or status == 429 or status >= 500:
        return S3TransientError(f"{context}: S3 throttled or failed the request ({code})")
    return QueueTypeError(f"{context}: {code}: {error.get('Message', exc)}")
