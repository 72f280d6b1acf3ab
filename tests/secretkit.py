"""Secrets echoed back in every form, and an oracle that tells whether a text still gives a secret away.

`recoverable` knows nothing of the masking code: it tries to get the secret back the way someone reading the
text could (any case, percent-decoding, JSON `\\/` unescaping, base64-decoding any run of base64 characters at
any alignment, in either alphabet).
"""

import base64
import json
import re
from urllib.parse import quote, unquote


def _b64_runs(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9+/_-]{8,}", text)


def _b64_decode_loose(seg: str) -> bytes:
    """Decode as much of `seg` as makes whole bytes (a run cut anywhere, padding or not)."""
    if len(seg) % 4 == 1:
        seg = seg[:-1]
    return base64.b64decode(seg + "=" * (-len(seg) % 4))


def recoverable(text: str, secret: str) -> bool:
    views = {text, unquote(text), text.replace("\\/", "/"), unquote(text.replace("\\/", "/"))}
    for view in list(views):
        views.add(unquote(view))
    for view in views:
        if secret.lower() in view.lower():
            return True
        for run in _b64_runs(view):
            std = run.replace("-", "+").replace("_", "/")
            for i in range(4):
                try:
                    if secret.encode() in _b64_decode_loose(std[i:]):
                        return True
                except ValueError:
                    pass
    return False


def echoes(secret: str) -> list[str]:
    """How a gateway, a proxy or a log middleware might echo one value."""
    raw = secret.encode()
    out = [secret, secret.lower(), secret.upper(), secret.swapcase(),
           quote(secret, safe=""), re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")),
           quote(secret), json.dumps(secret)[1:-1].replace("/", "\\/")]
    for prefix in (b"", b"u", b"us", b"user:", b"Basic x", b"AK:SK:"):
        for suffix in (b"", b":", b"::x"):
            encoded = base64.b64encode(prefix + raw + suffix).decode()
            out += [encoded, base64.urlsafe_b64encode(prefix + raw + suffix).decode(), encoded.replace("/", "\\/"),
                    quote(encoded, safe="")]
    return out
