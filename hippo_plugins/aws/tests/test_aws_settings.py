"""Settings checks shared by the AWS queue types."""

from __future__ import annotations

import pytest

from hippo_aws import credential_pair_errors, endpoint_errors

# (endpoint_url, the message it gets or None, what it proves)
ENDPOINTS = [
    (None, None, "no endpoint: AWS itself"),
    ("http://localhost:4566", None, "LocalStack"),
    ("https://minio.internal:9000/base", None, "a path is fine"),
    ("http://user:pw@minio:9000", "must not carry a user name or password", "credentials belong elsewhere"),
    ("http://minio :9000", "must not contain whitespace", "whitespace"),
    ("minio:9000", "must be an http(s) URL with a host name", "no scheme, no host"),
    ("http://minio:99999", "its port must be a number from 0 to 65535", "port out of range"),
    ("http://[::1]:4566", None, "an IPv6 address in brackets"),
    ("http://[not-an-address]/", "must be an http(s) URL with a host name", "brackets without an address"),
    ("http://minio\uff03x/", "must be an http(s) URL with a host name", "a host NFKC turns into '#'"),
]


@pytest.mark.parametrize(("endpoint", "message", "why"), ENDPOINTS, ids=[e[2] for e in ENDPOINTS])
def test_endpoint_errors(endpoint, message, why) -> None:
    errors = endpoint_errors(endpoint)
    if message is None:
        assert errors == [], why
    else:
        assert len(errors) == 1 and errors[0][0] == "endpoint_url" and message in errors[0][1], why


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({}, None),
        ({"awskey": "k", "awssecret": "s"}, None),
        ({"awskey": "k"}, "awssecret"),
        ({"awssecret": "s"}, "awskey"),
    ],
)
def test_credentials_come_in_pairs(settings, path) -> None:
    errors = credential_pair_errors(settings)
    assert [p for p, _ in errors] == ([] if path is None else [path])
