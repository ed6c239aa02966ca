"""Amazon SQS queue type (``sqs``): one Hippo item per SQS message.

Item
    ``data`` is the message body, unchanged; ``receipt`` is the message's receipt
    handle, used to delete it once Hippo holds the task.

Settings
    ``queuename`` (required)
        Name of the queue (not its URL), 1-80 characters of letters, digits, ``-``
        and ``_``, FIFO queues ending in ``.fifo``.
    ``awsregion`` (default ``"us-east-1"``)
        Region the queue lives in.
    ``awskey``, ``awssecret`` (default ``null``; ``awssecret`` is masked)
        An access key pair. Give both, or neither to use boto3's standard credential
        chain (``AWS_*`` environment variables, ``~/.aws`` files, instance or task role).
    ``endpoint_url`` (default ``null``)
        An SQS-compatible endpoint (LocalStack, ElasticMQ, moto) instead of AWS: an
        ``http(s)://`` URL with a host name and no ``user:password@`` (Hippo shows this
        setting unmasked; credentials go in ``awskey`` and ``awssecret``).
    ``wait_time_seconds`` (default ``1``, 0-20)
        How long the first receive of a poll waits on an empty queue (SQS long
        polling). Later receives of the same poll do not wait: a poll ends as soon
        as the queue has nothing visible left, so it never blocks longer than this.
    ``visibility_timeout`` (default ``300``, 1-43200)
        Seconds a received message stays hidden while Hippo takes custody of it.
        A poll spends at most about half of it receiving (below), leaving the other
        half for storing and deleting; a message whose timeout runs out before the
        ack may be delivered, and run, again.

Polling and custody
    ``poll(limit)`` receives in batches of up to 10 messages until it has ``limit`` of
    them, a receive comes back empty, or half of ``visibility_timeout`` has passed since
    the poll began (so a large ``limit`` never keeps receiving while its first messages
    become visible again). Should a message still come twice within one poll, it is one
    item, holding the newest receipt handle (the only one sure to delete it). Nothing
    is deleted while polling: received messages are only hidden for
    ``visibility_timeout`` seconds. ``ack`` deletes them with ``DeleteMessageBatch``
    (10 per call), and only the ones Hippo stored. If Hippo stops between the two, the
    messages become visible again after their visibility timeout and are polled once
    more: a message may run twice, it is never lost.
    If a receive fails half-way through a poll, the messages already received are
    made visible again at once and the error is raised. There is no cursor. On a
    FIFO queue, SQS hands out no further messages of a message group while earlier
    ones of that group are in flight, so a group advances once per poll and ack.

    For tests and tools, the poll's clock is the instance attribute ``clock``, a callable
    returning seconds (default ``time.monotonic``).

Errors
    Transient (:class:`SqsTransientError`, retried soon): the endpoint cannot be
    reached or times out, SQS throttles or answers with a server error, or a
    delete failed on SQS's side. Permanent (:class:`~hippo_core.queuetype.QueueTypeError`):
    no such queue, missing or rejected credentials, access denied, bad settings.
    Every message names the queue and region.

Example (create such a queue through Hippo's API)::

    curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
      "cmd": "make-thumbnail $HIPPO_DATA",
      "container": {"docker": {"image": "example/thumbnailer:1.0"}},
      "queue": {
        "type": "sqs", "name": "thumbnails",
        "sqs": {"queuename": "thumbnail-requests", "awsregion": "eu-west-1",
                "awskey": "AKIA...", "awssecret": "...", "visibility_timeout": 600}
      }
    }'
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any, ClassVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
)

from hippo_core import aws
from hippo_core.queuetype import Item, PollResult, QueueType, QueueTypeError

__all__ = ["SqsQueueType", "SqsTransientError"]

SCHEMA: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
)

# SQS accepts at most 10 messages per ReceiveMessage and 10 entries per batch call.
MAX_BATCH = 10
# Share of visibility_timeout a poll may spend receiving.
RECEIVE_SHARE = 0.5

_MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidSecurity",
    "ExpiredToken",
    "ExpiredTokenException",
}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"}
_TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequestsException",
    "KMS.ThrottlingException",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
}
_PERMISSIONS = (
    "the credentials need sqs:GetQueueUrl, sqs:ReceiveMessage, sqs:DeleteMessage and "
    "sqs:ChangeMessageVisibility on the queue"
)


class SqsTransientError(QueueTypeError):
    """An SQS failure worth retrying soon: network trouble, throttling, a server error."""


class SqsQueueType(QueueType):
    """Runs a task for each message of an SQS queue; see the module docstring."""

    name: ClassVar[str] = "sqs"
    label: ClassVar[str] = "Amazon SQS queue"
    schema: ClassVar[dict[str, Any]] = SCHEMA
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (SqsTransientError,)

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.where = f"SQS queue {settings['queuename']!r} in {settings['awsregion']}"
        self._client = _sqs_client(settings, self.where)
        self._queue_url: str | None = None
        self.clock: Callable[[], float] = time.monotonic

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        return aws.credential_pair_errors(settings) + aws.endpoint_errors(settings.get("endpoint_url"))

    def poll(self, limit: int, cursor: Any) -> PollResult:
        queue_url = self._url()
        visibility = self.settings["visibility_timeout"]
        # Past this, the first messages of the poll could be visible again before Hippo
        # holds them: the rest of their timeout is left for storing and deleting them.
        stop_receiving_at = self.clock() + visibility * RECEIVE_SHARE
        # By MessageId: a message seen twice is one item with its newest receipt handle,
        # the only one sure to delete it.
        received: dict[str, Item] = {}
        wait = self.settings["wait_time_seconds"]
        try:
            while len(received) < limit:
                with self._translate("receive messages from"):
                    answer = self._client.receive_message(
                        QueueUrl=queue_url,
                        MaxNumberOfMessages=min(MAX_BATCH, limit - len(received)),
                        WaitTimeSeconds=wait,
                        VisibilityTimeout=visibility,
                    )
                messages = answer.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    received[message["MessageId"]] = Item(
                        data=message["Body"], receipt=message["ReceiptHandle"]
                    )
                # Only the first receive waits, so a poll that drains the queue ends at once.
                wait = 0
                if self.clock() >= stop_receiving_at:
                    break
        except QueueTypeError as exc:
            self._release(list(received.values()), exc)
            raise
        return PollResult(items=list(received.values()), cursor=None)

    def ack(self, items: list[Item]) -> None:
        if not items:
            return
        # Every receipt is checked before the first delete, so a bad item deletes nothing.
        entries = [
            {"Id": str(index), "ReceiptHandle": _receipt(item, index)} for index, item in enumerate(items)
        ]
        queue_url = self._url()
        failures: list[str] = []
        only_server_faults = True
        for start in range(0, len(entries), MAX_BATCH):
            with self._translate("delete messages from"):
                answer = self._client.delete_message_batch(
                    QueueUrl=queue_url, Entries=entries[start : start + MAX_BATCH]
                )
            for failed in answer.get("Failed", []):
                only_server_faults = only_server_faults and not failed.get("SenderFault", True)
                failures.append(f"item {failed['Id']}: {failed.get('Code')}: {failed.get('Message', '')}")
        if failures:
            error_class = SqsTransientError if only_server_faults else QueueTypeError
            raise error_class(
                f"{self.where}: {len(failures)} of {len(items)} messages were not deleted and may "
                f"be delivered again after their visibility timeout ({'; '.join(failures)})"
            )

    def close(self) -> None:
        self._client.close()

    def _url(self) -> str:
        if self._queue_url is None:
            with self._translate("look up"):
                answer = self._client.get_queue_url(QueueName=self.settings["queuename"])
            self._queue_url = answer["QueueUrl"]
        return self._queue_url

    def _release(self, items: list[Item], error: BaseException) -> None:
        """Make messages received by a failed poll visible again instead of hiding them."""
        for start in range(0, len(items), MAX_BATCH):
            entries = [
                {"Id": str(index), "ReceiptHandle": item.receipt, "VisibilityTimeout": 0}
                for index, item in enumerate(items[start : start + MAX_BATCH], start)
            ]
            try:
                answer = self._client.change_message_visibility_batch(QueueUrl=self._url(), Entries=entries)
            except (BotoCoreError, ClientError, QueueTypeError) as release_error:
                error.add_note(
                    f"{len(items) - start} messages received before the failure stay hidden "
                    f"until their visibility timeout: releasing them failed too ({release_error})"
                )
                return
            for failed in answer.get("Failed", []):
                error.add_note(
                    f"item {failed['Id']} stays hidden until its visibility timeout: releasing "
                    f"it failed ({failed.get('Code')}: {failed.get('Message', '')})"
                )

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise _queue_error(exc, f"cannot {action} {self.where}") from exc


def _sqs_client(settings: dict[str, Any], where: str) -> Any:
    return aws.make_client("sqs", settings, where, read_timeout=settings["wait_time_seconds"] + 30)


def _receipt(item: Item, index: int) -> str:
    if not isinstance(item.receipt, str) or not item.receipt:
        raise QueueTypeError(f"item {index} carries no SQS receipt handle; was it polled by sqs?")
    return item.receipt


def _queue_error(exc: BotoCoreError | ClientError, context: str) -> QueueTypeError:
    """The error a user sees for a failed SQS call: what went wrong and what to do."""
    early = aws.connection_error(exc, context, SqsTransientError)
    if early is not None:
        return early
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _MISSING_QUEUE_CODES:
        return QueueTypeError(
            f"{context}: the queue does not exist; create it, or fix queuename or awsregion"
        )
    if code in _CREDENTIAL_CODES:
        return QueueTypeError(f"{context}: AWS rejected the credentials ({code}); check awskey and awssecret")
    if code in _DENIED_CODES:
        return QueueTypeError(f"{context}: access denied ({code}); {_PERMISSIONS}")
    if status in (401, 403):
        return QueueTypeError(
            f"{context}: AWS refused the request (HTTP {status}); check awskey and awssecret; " + _PERMISSIONS
        )
    if code in _TRANSIENT_CODES or status == 429 or status >= 500:
        return SqsTransientError(f"{context}: SQS throttled or failed the request ({code})")
    return QueueTypeError(f"{context}: {code}: {error.get('Message', exc)}")
