"""Which S3 failures are transient, which permanent, and what they tell the user: the suite
every AWS queue type runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hippo_aws.testing.suites import AwsErrorSuite
from hippo_s3bucket import S3BucketQueueType


class TestS3AwsErrors(AwsErrorSuite):
    queue_type = S3BucketQueueType
    resource_setting = "bucket_name"
    rejected_says = ("InvalidAccessKeyId", "SignatureDoesNotMatch")
    guarded_item = "guarded.txt"

    @pytest.fixture
    def aws_resource(self, bucket: str) -> str:
        return bucket

    @pytest.fixture
    def put_item(self, put: Callable[..., None]) -> Callable[[str, str], None]:
        return lambda name, data: put(name, data)
