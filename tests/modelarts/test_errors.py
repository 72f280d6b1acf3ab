"""Error-body parsing like huaweicloudsdkcore, the status -> class map, and safe messages."""

import json

import pytest

from pipeline.modelarts import errors
from pipeline.modelarts.errors import (
    AuthenticationError,
    BadRequestError,
    ClientRequestError,
    ModelArtsError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
    TransportError,
    parse_error_body,
)


def _body(doc) -> bytes:
    return json.dumps(doc).encode()


def test_modelarts_pair_and_gateway_request_id():
    code, msg, rid = parse_error_body(
        429, _body({"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached", "request_id": "ab12"})
    )
    assert (code, msg, rid) == ("APIGW.0308", "The throttling threshold has been reached", "ab12")


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"errorCode": "ModelArts.0108", "errorMsg": "denied"}, ("ModelArts.0108", "denied")),
        ({"code": "X.1", "message": "m"}, ("X.1", "m")),
        # IAM nests its error and uses an integer code.
        ({"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}},
         ("401", "The username or password is wrong.")),
        # The first pair wins over the later ones, as in the SDK.
        ({"error_code": "A", "error_msg": "a", "code": "B", "message": "b"}, ("A", "a")),
    ],
)
def test_sdk_lookup_order(doc, expected):
    code, msg, _ = parse_error_body(400, _body(doc))
    assert (code, msg) == expected


def test_non_json_body_gives_text_and_status_code():
    code, msg, rid = parse_error_body(502, b"<html>Bad Gateway</html>")
    assert (code, msg, rid) == ("502", "<html>Bad Gateway</html>", None)


def test_long_text_is_truncated():
    code, msg, _ = parse_error_body(500, b"x" * 10_000)
    assert code == "500" and len(msg) <= errors.MAX_MESSAGE_CHARS


def test_empty_and_array_bodies():
    assert parse_error_body(503, b"")[:2] == ("503", "")
    assert parse_error_body(400, b"[1,2]")[:2] == ("400", "[1,2]")


def test_lone_code_is_kept():
    code, msg, _ = parse_error_body(400, _body({"error_code": "ModelArts.50004000"}))
    assert code == "ModelArts.50004000"
    assert "ModelArts.50004000" in msg  # no message: the body text stands in, as in the SDK


@pytest.mark.parametrize(
    "status, cls",
    [(400, BadRequestError), (401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError),
     (429, ThrottledError), (409, ClientRequestError), (500, ServerError), (503, ServerError), (None, TransportError)],
)
def test_class_for_status(status, cls):
    assert errors.error_class_for(status) is cls
    assert issubclass(cls, ModelArtsError)


def test_message_fields():
    exc = NotFoundError(status=404, error_code="ModelArts.50015001", error_msg="pool not found", request_id="r1",
                        attempts=1, method="GET", path="/v2/p/pools/x")
    text = str(exc)
    for part in ("404", "ModelArts.50015001", "pool not found", "GET /v2/p/pools/x", "request_id=r1", "attempts=1"):
        assert part in text
    assert "NotFoundError" in repr(exc) and "r1" in repr(exc)


def test_redact():
    assert errors.redact("Get secretKey failed,ak:AKSECRET123,err:ak not exist", ["AKSECRET123"]) == (
        "Get secretKey failed,ak:***,err:ak not exist"
    )
    assert errors.redact("short ab", ["ab"]) == "short ab"  # too short to be a credential
    assert errors.redact(None, ["x" * 10]) is None
