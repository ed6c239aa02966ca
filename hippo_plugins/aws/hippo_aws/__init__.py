"""What Hippo's AWS queue types (``sqs``, ``s3bucket``) share, so each says it once.

- Settings checks for a queue type's ``validate()``: :func:`settings_errors` (``awskey``
  and ``awssecret`` as a pair, an ``endpoint_url`` boto3 can use that shows no secret).
- :func:`make_client`: a boto3 client from a queue's settings (the key pair or the
  standard credential chain, the region, the endpoint; one quick retry inside boto3,
  since Hippo's poller backs off itself).
- :func:`error_rules`: what AWS errors mean (transient or for the user to fix, and
  what to do), for the end of a queue type's error table; :func:`code_in` for its own
  rules about codes only its service answers with.
- :mod:`hippo_aws.testing`: ``moto_server`` and the other test helpers and suites of
  AWS queue types, with a pytest plugin of their own.

hippo-aws registers no queue type: it is installed as a dependency of those that do.
"""

from hippo_aws.client import make_client
from hippo_aws.errors import code_in, error_code, error_rules, http_status
from hippo_aws.settings import credential_pair_errors, endpoint_errors, endpoints, settings_errors

__all__ = [
    "code_in",
    "credential_pair_errors",
    "endpoint_errors",
    "endpoints",
    "error_code",
    "error_rules",
    "http_status",
    "make_client",
    "settings_errors",
]
