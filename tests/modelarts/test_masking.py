"""Secrets echoed in any form are masked: in messages (errors.redact) and in landed bodies (landing.mask_secrets),
whole or streamed in chunks.

The oracle `secretkit.recoverable` is independent of the masking code: it tries to get the secret back from a
text the way someone reading it could.
"""

from __future__ import annotations

import json

import pytest
from secretkit import echoes, recoverable

from pipeline.land.landing import mask_secrets
from pipeline.modelarts.errors import redact
from pipeline.modelarts.masking import Masker

AK = "AKCANARY0123456789XY"
SK = "SKcanary-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e"
TOKEN = "ST/canary+token=5e6f/7a8b9c0d+ef=="  # '/', '+', '=': percent-encoding and JSON escaping change it
SECRETS = (AK, SK, TOKEN)


def test_the_oracle_sees_every_echo():
    for secret in SECRETS:
        for echo in echoes(secret):
            assert recoverable(f"x {echo} y", secret), echo


@pytest.mark.parametrize("secret", SECRETS)
def test_redact_masks_every_form(secret):
    for echo in echoes(secret):
        text = f"Get secretKey failed,ak:{echo},err:ak not exist"
        masked = redact(text, SECRETS)
        assert not any(recoverable(masked, s) for s in SECRETS), (echo, masked)
        assert masked.startswith("Get secretKey failed,ak:") and masked.endswith(",err:ak not exist")


@pytest.mark.parametrize("secret", SECRETS)
def test_landed_bodies_mask_every_form(secret):
    for echo in echoes(secret):
        body = json.dumps({"error_code": "APIGW.0301", "error_msg": f"denied: {echo} end"}).encode()
        masked = mask_secrets(body, [s.encode() for s in SECRETS])
        assert not any(recoverable(masked.decode(), s) for s in SECRETS), (echo, masked)
        assert masked.startswith(b'{"error_code": "APIGW.0301", "error_msg": "denied: ')


def test_a_body_without_secrets_is_left_as_it_is():
    body = json.dumps({"items": [{"metadata": {"name": f"pool-{i}", "labels": {"k": "AKCANARY"}}}
                                 for i in range(100)]}).encode()
    assert mask_secrets(body, [s.encode() for s in SECRETS]) is body
    assert redact("nothing to see", SECRETS) == "nothing to see"


def test_short_values_are_not_credentials():
    assert redact("short ab abcde", ["ab", "abcde"]) == "short ab abcde"
    assert mask_secrets(b"short ab", [b"ab"]) == b"short ab"


def test_streaming_finds_forms_across_any_chunk_boundary():
    masker = Masker(SECRETS)
    parts = [f"[{i}] {echo} " for s in SECRETS for i, echo in enumerate(echoes(s)[:12])]
    body = ("{" + "".join(parts) + "}").encode()
    whole = masker.mask_bytes(body)
    assert not any(recoverable(whole.decode(), s) for s in SECRETS)
    for size in (1, 2, 3, 7, 16, 31, 64, 100, 1000, len(body)):
        chunks = [body[i:i + size] for i in range(0, len(body), size)]
        assert b"".join(masker.mask_stream(chunks)) == whole, size
