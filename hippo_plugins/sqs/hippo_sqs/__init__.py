"""Amazon SQS queue type (`sqs`): one Hippo item per SQS message.

An item's `data` is the message body, unchanged; its `receipt` is the message's receipt
handle, used to delete it once Hippo holds the task.

## Polling and custody

`poll(limit)` receives in batches of up to 10 messages until it has `limit` of them, a
receive comes back empty, or half of `visibility_timeout` has passed since the poll
began (so a large `limit` never keeps receiving while its first messages become visible
again). Should a message still come twice within one poll, it is one item, holding the
newest receipt handle (the only one sure to delete it). Nothing is deleted while
polling: received messages are only hidden for `visibility_timeout` seconds. `ack`
deletes them with `DeleteMessageBatch` (10 per call), and only the ones Hippo stored.
If Hippo stops between the two, the messages become visible again after their
visibility timeout and are polled once more: a message may run twice, it is never lost.

If a receive fails half-way through a poll, the messages already received are made
visible again at once and the error is raised. There is no cursor. On a FIFO queue,
SQS hands out no further messages of a message group while earlier ones of that group
are in flight, so a group advances once per poll and ack.

For tests and tools, the poll's clock is the instance attribute `clock`, a callable
returning seconds (default `time.monotonic`).

## Errors

Transient (`SqsTransientError`, retried soon): the endpoint cannot be reached or times
out, SQS throttles or answers with a server error, or a delete failed on SQS's side.
Permanent (`QueueTypeError`): no such queue, missing or rejected credentials, access
denied, bad settings. Every message names the queue and region. The AWS errors are
judged as for every AWS queue type (`hippo_aws.error_rules`).

## Example

```sh
curl -X POST http://localhost:8080/queues/ -H 'Content-Type: application/json' -d '{
  "cmd": "make-thumbnail $HIPPO_DATA",
  "container": {"docker": {"image": "example/thumbnailer:1.0"}},
  "queue": {
    "type": "sqs", "name": "thumbnails",
    "sqs": {"queuename": "thumbnail-requests", "awsregion": "eu-west-1",
            "awskey": "AKIAIOSFODNN7EXAMPLE",
            "awssecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "visibility_timeout": 600}
  }
}'
```
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

import hippo_aws
from hippo_core.queuetype import (
    Endpoint,
    ErrorRule,
    Item,
    PollResult,
    QueueType,
    QueueTypeError,
    TransientError,
)

__all__ = ["SqsQueueType", "SqsTransientError"]

# SQS accepts at most 10 messages per ReceiveMessage and 10 entries per batch call.
MAX_BATCH = 10
# Share of visibility_timeout a poll may spend receiving.
RECEIVE_SHARE = 0.5

MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_PERMISSIONS = (
    "the credentials need sqs:GetQueueUrl, sqs:ReceiveMessage, sqs:DeleteMessage and "
    "sqs:ChangeMessageVisibility on the queue"
)


class SqsTransientError(TransientError):
    """An SQS failure worth retrying soon: network trouble, throttling, a server error."""


class SqsQueueType(QueueType):
    """Runs a task for each message of an SQS queue; see the module docstring."""

    name: ClassVar[str] = "sqs"
    label: ClassVar[str] = "Amazon SQS queue"
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (
        ErrorRule(
            ClientError,
            "the queue does not exist; create it, or fix queuename or awsregion",
            when=hippo_aws.code_in(MISSING_QUEUE_CODES),
        ),
        *hippo_aws.error_rules("SQS", _PERMISSIONS),
    )
    transient_error: ClassVar[type[TransientError]] = SqsTransientError

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self._client = hippo_aws.make_client(
            "sqs", settings, self.source_name(), read_timeout=settings["wait_time_seconds"] + 30
        )
        self._queue_url: str | None = None
        self.clock: Callable[[], float] = time.monotonic

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        return hippo_aws.settings_errors(settings)

    @classmethod
    def source_endpoints(cls, settings: dict[str, Any]) -> list[Endpoint]:
        return hippo_aws.endpoints(settings)

    def source_name(self) -> str:
        return f"SQS queue {self.settings['queuename']!r} in {self.settings['awsregion']}"

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
        except Exception as exc:
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
            answer = self._client.delete_message_batch(
                QueueUrl=queue_url, Entries=entries[start : start + MAX_BATCH]
            )
            for failed in answer.get("Failed", []):
                only_server_faults = only_server_faults and not failed.get("SenderFault", True)
                failures.append(f"item {failed['Id']}: {failed.get('Code')}: {failed.get('Message', '')}")
        if failures:
            error_class = SqsTransientError if only_server_faults else QueueTypeError
            raise error_class(
                f"{self.source_name()}: {len(failures)} of {len(items)} messages were not deleted and may "
                f"be delivered again after their visibility timeout ({'; '.join(failures)})"
            )

    def close(self) -> None:
        self._client.close()

    def _url(self) -> str:
        if self._queue_url is None:
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


def _receipt(item: Item, index: int) -> str:
    if not isinstance(item.receipt, str) or not item.receipt:
        raise QueueTypeError(f"item {index} carries no SQS receipt handle; was it polled by sqs?")
    return item.receipt
