"""Our signer against huaweicloudsdkcore's Signer on generated requests: identical Authorization and query.

The SDK is the oracle for the wire format; it is imported only here, with HOME pointed at a temporary folder
because importing it writes ~/.huaweicloud.
"""

import importlib
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.modelarts import signer

# Reserved and awkward characters, unicode, percent signs and spaces: what URLs get wrong.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list(string.ascii_letters + string.digits)),
    ),
    max_size=16,
)
HEADER_NAME = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=12)
HEADER_VALUE = st.text(alphabet=string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "")
                       .replace("\x0c", "") + "éü中", max_size=24)
RESERVED_HEADERS = {"host", "x-sdk-date", "authorization", "x-sdk-content-sha256", "content-type"}


@st.composite
def requests(draw):
    path = "/" + "/".join(draw(st.lists(TEXT, min_size=1, max_size=5)))
    # Repeated keys are allowed; a key's values share one type, as with any real caller (the SDK sorts
    # raw (key, value) tuples and cannot compare a list with a string).
    params: list[tuple[str, object]] = []
    kinds: dict[str, str] = {}
    for key in draw(st.lists(TEXT, max_size=5)):
        kind = kinds.setdefault(key, draw(st.sampled_from(["str", "repeat", "list", "bool", "int"])))
        if kind in ("str", "repeat"):
            for value in draw(st.lists(TEXT, min_size=1, max_size=1 if kind == "str" else 3)):
                params.append((key, value))
        elif kind == "list":
            # One list per key: with two, the SDK sends pairs out of sorted order and no gateway that
            # re-sorts the received pairs (as APIG does) could verify it.
            if not any(k == key for k, _ in params):
                params.append((key, draw(st.lists(TEXT, min_size=1, max_size=3))))
        elif kind == "bool":
            params.append((key, draw(st.booleans())))
        else:
            params.append((key, str(draw(st.integers(min_value=-5, max_value=10**6)))))
    headers: dict[str, str] = {}
    for name in draw(st.lists(HEADER_NAME, max_size=5)):
        if name.lower() in RESERVED_HEADERS or name.lower() in {h.lower() for h in headers}:
            continue
        headers[name] = draw(HEADER_VALUE)
    content_type = draw(st.sampled_from([None, "application/json", "application/json;charset=utf8",
                                         "text/plain", "application/octet-stream"]))
    if content_type:
        headers["Content-Type"] = content_type
    body = draw(st.one_of(st.just(b""), st.binary(max_size=64)))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    day = draw(st.integers(min_value=1, max_value=28))
    headers["X-Sdk-Date"] = f"202511{day:02d}T0{day % 10}1530Z"
    host = draw(st.sampled_from(["modelarts.cn-north-4.myhuaweicloud.com", "127.0.0.1:8080", "[::1]:9"]))
    return method, host, path, params, headers, body


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    try:
        core_signer = importlib.import_module("huaweicloudsdkcore.signer.signer")
        sdk_request = importlib.import_module("huaweicloudsdkcore.sdk_request")
        yield core_signer, sdk_request
    finally:
        mp.undo()


class _Creds:
    def __init__(self, ak: str, sk: str):
        self.ak, self.sk = ak, sk


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(req=requests(), ak=st.from_regex(r"[A-Z0-9]{20}", fullmatch=True),
       sk=st.text(alphabet=string.ascii_letters + string.digits + "/+", min_size=1, max_size=40))
def test_authorization_and_query_equal_the_sdk(sdk, req, ak, sk):
    core_signer, sdk_request = sdk
    method, host, path, params, headers, body = req
    sdk_req = sdk_request.SdkRequest(
        method=method, schema="https", host=host, resource_path=path,
        query_params=[(k, list(v) if isinstance(v, list) else v) for k, v in params],
        header_params=dict(headers), body=body,
    )
    core_signer.Signer(_Creds(ak, sk)).sign(sdk_req)

    query = signer.canonical_query(params)
    ours = signer.sign(ak=ak, sk=sk, method=method, host=host, path=path, query=query,
                       headers=headers, body=body)

    assert ours["Authorization"] == sdk_req.header_params["Authorization"]
    # What the SDK puts on the wire is exactly the query we signed and send.
    assert sdk_req.uri == (f"{path}?{query}" if query else path)
    # And the gateway-side recomputation from the received bytes agrees.
    auth = signer.parse_authorization(ours["Authorization"])
    assert signer.verify(sk=sk, auth=auth, method=method, path=path, raw_query=query, headers=ours, body=body)
