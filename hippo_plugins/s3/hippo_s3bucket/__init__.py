"""Amazon S3 bucket queue type (`s3bucket`): one Hippo item per new object in a bucket.

An item's `data` is the object's key (e.g. `incoming/2024/05/01/scan-17.tiff`). Items
come oldest first: by LastModified, then by key. An object overwritten later is new
again and gives another item. Zero-byte keys ending in `/` (the "folders" the S3
console creates) are not items.

## Cursor and custody

S3 cannot list "what changed since", so every poll lists the whole bucket (or prefix),
page by page, and keeps the `limit` oldest objects not yet handed out. A prefix keeps
large buckets cheap to poll. The cursor is

```json
{"last_modified": "2024-05-01T12:00:07.000000Z", "keys": ["a.csv", "b.csv"]}
```

meaning: every object modified before `last_modified` has been handed out, and of
those modified exactly then, the ones named in `keys`. S3 keeps LastModified to the
second, so many objects can share one; keeping their keys lets a poll whose `limit`
stops inside such a group, or an object that lands in the same second after a poll, be
picked up next time: nothing runs twice and nothing is skipped. `keys` only ever holds
the objects of one second. A queue starts from `null` (no `earliest_unix_tstamp`:
everything is new) or from the instant just after `earliest_unix_tstamp`. Nothing is
deleted or changed in the bucket: Hippo stores the cursor with the tasks, so no ack is
needed, and a crash before that store repeats the poll from the old cursor.

What resets the cursor: the cursor only means something for the objects it was taken
from, so Hippo drops it (and starts again from `earliest_unix_tstamp`) when
`bucket_name`, `prefix` or the server of `endpoint_url` changes (`source_identity`),
or when `earliest_unix_tstamp` changes. Changing the credentials, `awsregion` (a
bucket name is global: another region is the same bucket or an error),
`settle_seconds` or how `endpoint_url` is written (`http://minio:80/` is
`http://minio`) keeps it.

Known limit: S3 dates an object uploaded in parts by when its upload started, but
lists it only once the upload completes. If newer objects were handed out meanwhile,
the cursor is already past its LastModified and it never becomes an item. Set
`settle_seconds` above the longest upload (plus clock skew) for such buckets: objects
are then handed out that much later, and not skipped.

## Errors

Transient (`S3TransientError`, retried soon): the endpoint cannot be reached or times
out, S3 throttles (SlowDown) or answers with a server error. Permanent
(`QueueTypeError`): no such bucket, the bucket lives in another region, missing or
rejected credentials, access denied, a stored cursor this queue type did not write.
Every message names the bucket. The AWS errors are judged as for every AWS queue type
(`hippo_aws.error_rules`).

## Example

```sh
curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
  "cmd": "process-scan $HIPPO_DATA",
  "container": {"docker": {"image": "example/scanner:2.1"}},
  "queue": {
    "type": "s3bucket", "name": "scans",
    "s3bucket": {"bucket_name": "example-scans", "prefix": "incoming/",
                 "earliest_unix_tstamp": 1714521600, "awsregion": "eu-west-1",
                 "awskey": "AKIAIOSFODNN7EXAMPLE",
                 "awssecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
  }
}'
```
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

import hippo_aws
from hippo_core.queuetype import (
    JSON,
    Endpoint,
    ErrorRule,
    Item,
    PollResult,
    QueueType,
    QueueTypeError,
    TransientError,
)

__all__ = ["Position", "S3BucketQueueType", "S3TransientError"]

MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
WRONG_REGION_CODES = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)
_PERMISSIONS = "the credentials need s3:ListBucket on the bucket"


def _in_another_region(error: ClientError) -> bool:
    return hippo_aws.error_code(error) in WRONG_REGION_CODES or hippo_aws.http_status(error) == 301


def _wrong_region(error: ClientError) -> str:
    """The bucket is elsewhere; S3 often says where, in its answer or a header."""
    region = error.response.get("Error", {}).get("Region") or error.response.get("ResponseMetadata", {}).get(
        "HTTPHeaders", {}
    ).get("x-amz-bucket-region")
    hint = f"set awsregion to {region!r}" if region else "fix awsregion"
    return f"the bucket is in another region ({hippo_aws.error_code(error)}); {hint}"


class S3TransientError(TransientError):
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
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (
        ErrorRule(
            ClientError,
            "the bucket does not exist; create it, or fix bucket_name",
            when=hippo_aws.code_in(MISSING_BUCKET_CODES),
        ),
        ErrorRule(ClientError, lambda queue, error: _wrong_region(error), when=_in_another_region),
        *hippo_aws.error_rules("S3", _PERMISSIONS),
    )
    transient_error: ClassVar[type[TransientError]] = S3TransientError

    # Keys per ListObjectsV2 page; S3's own maximum. Tests lower it to cross pages.
    page_size: int = 1000

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        # S3-compatible servers rarely resolve <bucket>.<host> names; AWS accepts both.
        style = "path" if settings.get("endpoint_url") else "auto"
        self._client = hippo_aws.make_client(
            "s3", settings, self.source_name(), read_timeout=60, s3={"addressing_style": style}
        )

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        return hippo_aws.settings_errors(settings)

    @classmethod
    def source_endpoints(cls, settings: dict[str, Any]) -> list[Endpoint]:
        return hippo_aws.endpoints(settings)

    def source_name(self) -> str:
        return f"S3 bucket {self.settings['bucket_name']!r} in {self.settings['awsregion']}"

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
            raise QueueTypeError(f"{self.source_name()}: the stored cursor is unusable: {exc}") from exc
        settled_before = datetime.now(UTC) - timedelta(seconds=self.settings["settle_seconds"])

        def ready(obj: S3Object) -> bool:
            return position.is_new(obj) and obj.last_modified <= settled_before

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
