"""The five worked vectors of reference section 6.2, reproduced exactly."""

import hashlib

import pytest

from pipeline.modelarts import signer

AK = "AKEXAMPLE0123456789A"
SK = "SKexample0123456789abcdefghijklmnopqrstuv"
PID = "0123456789abcdef0123456789abcdef"
DATE = "20250101T120000Z"
HOST = "modelarts.cn-north-4.myhuaweicloud.com"
POOL = "pool-7e3a1b2c-0000-4a5b-9c8d-1234567890ab"
SDK_HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "huaweicloud-usdk-python/3.0; example",
    "X-Project-Id": PID,
    "X-Sdk-Date": DATE,
}


def _sig(headers: dict[str, str]) -> str:
    return signer.parse_authorization(headers["Authorization"]).signature


def test_vector_1_list_pools_full_canonical_forms():
    query = signer.canonical_query(
        [("workspaceId", "0"), ("labelSelector", "os.modelarts/name=pool a"), ("status", "created")]
    )
    assert query == "labelSelector=os.modelarts%2Fname%3Dpool%20a&status=created&workspaceId=0"
    path = f"/v2/{PID}/pools"
    headers = {**SDK_HEADERS, "Host": HOST}
    names = signer.signed_header_names(headers)
    canonical = signer.canonical_request("GET", path, query, headers, names, b"")
    assert canonical == (
        "GET\n"
        f"/v2/{PID}/pools/\n"
        "labelSelector=os.modelarts%2Fname%3Dpool%20a&status=created&workspaceId=0\n"
        "content-type:application/json\n"
        f"host:{HOST}\n"
        "user-agent:huaweicloud-usdk-python/3.0; example\n"
        f"x-project-id:{PID}\n"
        f"x-sdk-date:{DATE}\n"
        "\n"
        "content-type;host;user-agent;x-project-id;x-sdk-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert signer.string_to_sign(canonical, DATE) == (
        "SDK-HMAC-SHA256\n20250101T120000Z\n"
        "b0ef78050f8cb433ee0d501c7a4f8888e781f644630a764b9dc73b26fefb85b0"
    )
    out = signer.sign(ak=AK, sk=SK, method="GET", host=HOST, path=path, query=query, headers=SDK_HEADERS)
    assert out["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE0123456789A, "
        "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
        "Signature=8c574d37a8643c757de80e25847e60ef27d65f6aaf4b41946189fafbf2388521"
    )


@pytest.mark.parametrize(
    ("path", "params", "extra", "expected"),
    [
        (
            f"/v2/{PID}/pools/{POOL}/nodes",
            [("continue", "abc+/="), ("limit", 2)],
            {},
            "9ac02193507c268e0ace0d5e1ab662b3369bedf41452ae9e59ea2e275d8d0a6d",
        ),
        (
            f"/v2/{PID}/pools/{POOL}",
            [],
            {"X-Security-Token": "TOKENEXAMPLE"},
            "911ce5ac6c131cf94a01bf50499dbc2ee1597d4efca2d5f2d1a4d59745cb64c1",
        ),
    ],
)
def test_vectors_2_and_3_sdk_client(path, params, extra, expected):
    query = signer.canonical_query(params)
    out = signer.sign(
        ak=AK, sk=SK, method="GET", host=HOST, path=path, query=query, headers={**SDK_HEADERS, **extra}
    )
    assert _sig(out) == expected
    if extra:
        assert "x-security-token" in signer.parse_authorization(out["Authorization"]).signed_headers


def test_vector_4_bare_signer_minimal_headers():
    out = signer.sign(
        ak=AK, sk=SK, method="GET", host="127.0.0.1:8080", path=f"/v2/{PID}/pools", headers={"X-Sdk-Date": DATE}
    )
    auth = signer.parse_authorization(out["Authorization"])
    assert auth.signed_headers == ["host", "x-sdk-date"]
    assert auth.signature == "8b12155f4997949b2609414d458ea694b07a8d4ec8217fa600a413e10eb22020"


def test_vector_5_post_with_body_and_repeated_keys():
    body = b'{"kind":"Pool"}'
    assert hashlib.sha256(body).hexdigest() == (
        "4bd496e2b1b3ec7975ab8a2c9e2fbdb37787c25649891ee5132a6119ea0c5a3a"
    )
    query = signer.canonical_query([("b", "2"), ("a", "x y"), ("a", "1")])
    assert query == "a=1&a=x%20y&b=2"
    out = signer.sign(
        ak=AK,
        sk=SK,
        method="POST",
        host="127.0.0.1:8080",
        path=f"/v2/{PID}/pools",
        query=query,
        headers={"X-Sdk-Date": DATE, "Content-Type": "application/json"},
        body=body,
    )
    auth = signer.parse_authorization(out["Authorization"])
    assert auth.signed_headers == ["content-type", "host", "x-sdk-date"]
    assert auth.signature == "edce3649f2df722cdb7b43cb4e7f38ee9f72656e2dac33fcc8a6773417fd4509"


def test_server_side_verify_accepts_the_sent_bytes_and_rejects_tampering():
    query = signer.canonical_query([("labelSelector", "a=b c+d"), ("status", "created")])
    out = signer.sign(ak=AK, sk=SK, method="GET", host=HOST, path=f"/v2/{PID}/pools", query=query,
                      headers={"X-Sdk-Date": DATE})
    auth = signer.parse_authorization(out["Authorization"])
    ok = dict(method="GET", path=f"/v2/{PID}/pools", raw_query=query, headers=out, body=b"")
    assert signer.verify(sk=SK, auth=auth, **ok)
    assert not signer.verify(sk=SK + "x", auth=auth, **ok)
    assert not signer.verify(sk=SK, auth=auth, **{**ok, "raw_query": query.replace("created", "failed")})
    assert not signer.verify(sk=SK, auth=auth, **{**ok, "path": f"/v2/{PID}/pools/other"})


def test_parse_authorization_rejects_garbage():
    for bad in ["", "Bearer x", "SDK-HMAC-SHA256 Access=a", "SDK-HMAC-SM3 Access=a, SignedHeaders=h, Signature=00"]:
        with pytest.raises(ValueError):
            signer.parse_authorization(bad)
