"""Signing cost per request: ours against the official SDK's Signer, same requests, same run."""

import os
import tempfile

from benchmarks.harness import Figure, best_of
from pipeline.modelarts import signer

N = 5000
AK, SK = "AKEXAMPLE0123456789A", "SKexample0123456789abcdefghijklmnopqrstuv"
PID = "0123456789abcdef0123456789abcdef"
HEADERS = {"Content-Type": "application/json", "X-Project-Id": PID, "User-Agent": "bench"}
PARAMS = [("workspaceId", "0"), ("labelSelector", "os.modelarts/name=pool a"), ("status", "created")]


def run() -> list[Figure]:
    # The SDK writes ~/.huaweicloud on import: keep it out of the user's home.
    os.environ["HOME"] = tempfile.mkdtemp(prefix="poolscope-bench-home-")
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    class Creds:
        ak, sk = AK, SK

    def ours():
        for _ in range(N):
            signer.sign(ak=AK, sk=SK, method="GET", host="modelarts.cn-north-4.myhuaweicloud.com",
                        path=f"/v2/{PID}/pools", query=signer.canonical_query(PARAMS), headers=HEADERS)

    def sdk():
        for _ in range(N):
            req = SdkRequest(method="GET", schema="https", host="modelarts.cn-north-4.myhuaweicloud.com",
                             resource_path=f"/v2/{PID}/pools", query_params=list(PARAMS),
                             header_params=dict(HEADERS), body="")
            Signer(Creds).sign(req)

    mine, theirs = best_of(ours), best_of(sdk)
    return [
        Figure("sign one request", mine / N * 1e6, "us", "huaweicloudsdkcore Signer", theirs / N * 1e6,
               target="<= 1.5x the SDK", met=mine <= 1.5 * theirs),
    ]
