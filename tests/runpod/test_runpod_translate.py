"""Error classification and retry arithmetic, on RunPod's exact messages (reference §2)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.runpod import documents
from scheduler.runpod.errors import (
    AuthenticationError,
    CapacityError,
    NotFoundError,
    RejectedError,
    RunPodError,
    SpotUnsupportedError,
    TransientError,
)
from scheduler.runpod.retry import RetryPolicy, parse_retry_after
from scheduler.runpod.translate import classify_graphql_error, error_from_graphql, error_kind

SPOT = documents.DEPLOY_SPOT
BID = documents.BID_RESUME_POD
ON_DEMAND = documents.DEPLOY_ON_DEMAND
RESUME = documents.RESUME_POD
TERMINATE = documents.TERMINATE_POD

CASES = [
    # capacity family
    (
        "There are no longer any instances available with the requested specifications. "
        "Please refresh and try again.",
        None,
        ON_DEMAND,
        CapacityError,
    ),
    (
        "There are no longer any instances available with the request specifications. "
        "Please try again later.",
        None,
        SPOT,
        CapacityError,
    ),
    (
        "There are no instances available with the request specifications. Please try again later.",
        None,
        SPOT,
        CapacityError,
    ),
    (
        "There are not enough free GPUs on the host machine to start this pod.",
        None,
        RESUME,
        CapacityError,
    ),
    (
        "There are not enough free GPUs on the host machine to start this pod.",
        None,
        BID,
        CapacityError,
    ),
    # not found
    ("pod not found to terminate", None, TERMINATE, NotFoundError),
    (
        "Tried to delete nonexistent network volume abc",
        None,
        documents.DELETE_NETWORK_VOLUME,
        NotFoundError,
    ),
    # auth
    ("Unauthorized", None, documents.LIST_PODS, AuthenticationError),
    ("Forbidden: key is read-only", None, ON_DEMAND, AuthenticationError),
    ("nope", "UNAUTHENTICATED", ON_DEMAND, AuthenticationError),
    # transient
    (
        "Something went wrong. Please try again later or contact support.",
        "INTERNAL_SERVER_ERROR",
        RESUME,
        TransientError,
    ),
    ("whatever", "INTERNAL_SERVER_ERROR", documents.LIST_PODS, TransientError),
    # rejected
    ("Cannot resume a spot pod as an on demand pod.", None, RESUME, RejectedError),
    (
        'Field "allowedCudaVersions" is not defined by type "PodResumeInput".',
        "GRAPHQL_VALIDATION_FAILED",
        RESUME,
        RejectedError,
    ),
    (
        "Error creating cluster - cluster creation failed",
        "RUNPOD",
        ON_DEMAND,
        RejectedError,
    ),
    # spot unsupported: validation (graphql-js and graphql-core quoting) and business errors
    (
        'Cannot query field "podRentInterruptable" on type "Mutation".',
        None,
        SPOT,
        SpotUnsupportedError,
    ),
    ("Cannot query field 'podBidResume' on type 'Mutation'.", None, BID, SpotUnsupportedError),
    ('Unknown type "PodRentInterruptableInput".', None, SPOT, SpotUnsupportedError),
    ("Unknown type 'PodBidResumeInput'.", None, BID, SpotUnsupportedError),
    (
        'Variable "$input" got invalid value {...}; Field "bidPerGpu" is not defined by type '
        '"PodRentInterruptableInput".',
        None,
        SPOT,
        SpotUnsupportedError,
    ),
    ("Spot pods are no longer supported.", None, SPOT, SpotUnsupportedError),
    ("Interruptible pods have been removed", "RUNPOD", BID, SpotUnsupportedError),
    ("anything", "UNSUPPORTED", SPOT, SpotUnsupportedError),
    # the same words on a non-spot operation are not a spot verdict
    (
        'Cannot query field "podRentInterruptable" on type "Mutation".',
        None,
        ON_DEMAND,
        RejectedError,
    ),
    ("Spot pods are no longer supported.", None, ON_DEMAND, RejectedError),
    # a spot op's ordinary validation error is still a rejection
    ('Field "foo" is not defined by type "PodRentInterruptableInput".', None, SPOT, RejectedError),
]


@pytest.mark.parametrize(("message", "code", "op", "expected"), CASES)
def test_classification(message, code, op, expected):
    assert classify_graphql_error(message, code, op) is expected


VALIDATION_CASES = [
    # graphql-js wording that must not be read as not-found / capacity / spot-removed
    ('Value "MOON" does not exist in "CloudTypeEnum" enum.', ON_DEMAND, RejectedError),
    ('Variable "$input" got invalid value "x"; pod not found', RESUME, RejectedError),
    (
        'Variable "$input" got invalid value 1; Field "supportPublicIp" of required type '
        '"Boolean!" was not provided. PodRentInterruptableInput is deprecated',
        SPOT,
        RejectedError,
    ),
    ('Unknown type "PodRentInterruptableInput".', SPOT, SpotUnsupportedError),
    ("Unauthorized", ON_DEMAND, AuthenticationError),
]


@pytest.mark.parametrize(("message", "op", "expected"), VALIDATION_CASES)
def test_validation_errors_are_rejected_unless_auth_or_spot_gone(message, op, expected):
    assert classify_graphql_error(message, None, op, validation=True) is expected
    assert classify_graphql_error(message, "GRAPHQL_VALIDATION_FAILED", op) is expected
    assert type(error_from_graphql([{"message": message}], op, 400)) is expected


def test_most_decisive_error_wins_and_messages_are_kept():
    errors = [
        {"message": "Something went wrong.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}},
        {"message": "There are no instances available with the request specifications."},
        {"message": "There are no instances available with the request specifications."},
    ]
    err = error_from_graphql(errors, SPOT, 200)
    assert type(err) is CapacityError
    assert err.operation == "deploy_spot"
    assert err.message.count("no instances available") == 1
    assert "Something went wrong" in err.message


def test_malformed_error_entries_still_classify():
    err = error_from_graphql(["boom", {"extensions": "x"}], ON_DEMAND, 400)
    assert type(err) is RejectedError
    assert "HTTP 400" in err.message


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (TransientError, "transient"),
        (CapacityError, "capacity"),
        (NotFoundError, "not_found"),
        (SpotUnsupportedError, "spot_unsupported"),
        (RejectedError, "rejected"),
        (AuthenticationError, "authentication"),
        (RunPodError, "run_pod"),
    ],
)
def test_error_kind(cls, kind):
    assert error_kind(cls) == kind
    assert error_kind(cls("x")) == kind


NOW = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", None),
        ("nan", None),
        ("soon", None),
        ("Mon, 05 Jan 2026 00:00:30 GMT", 30.0),
        ("Sun, 04 Jan 2026 23:00:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, NOW) == seconds


@given(
    retry=st.integers(min_value=0, max_value=20),
    seed=st.integers(min_value=0, max_value=2**32),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e6),
)
def test_delay_is_full_jitter_capped_and_honours_retry_after(retry, seed, retry_after):
    policy = RetryPolicy()
    delay = policy.delay(retry, random.Random(seed), retry_after)
    ceiling = min(policy.cap, policy.base * 2**retry)
    expected = random.Random(seed).uniform(0, ceiling)
    if retry_after is None:
        assert delay == expected
        assert 0 <= delay <= ceiling
    else:
        assert delay == max(expected, min(retry_after, policy.max_retry_after))
        assert delay <= max(ceiling, policy.max_retry_after)


def test_retry_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base=-1)
