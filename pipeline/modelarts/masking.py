"""Masking credentials out of text and bodies, in every form a server might echo them.

Gateways echo the AK in 401 messages ("ak:<AK>"), and a proxy or a logging middleware may echo a header
lower-cased, percent-encoded, base64-encoded (a Basic-auth style echo, or a whole header dump in base64) or
JSON-escaped. `secret_forms` derives all of those from one value; `Masker` finds and replaces them in text
(`errors.redact`) and in bytes, whole or streamed in chunks (`lake.landing`).

Finding is the cost that matters, since every landed body is searched: one C-speed pass folds the body's case
(and the URL-safe base64 alphabet onto the standard one), then each form is one substring search of that
folded copy. Only when a form is found does the exact, slower regex run to replace it.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote

MASK = "***"
# Very short values would blank out ordinary words; real AKs, SKs, tokens and passwords are long.
MIN_SECRET_CHARS = 6

# Folding: ASCII lower-case, and '-' '_' (URL-safe base64) onto '+' '/' (standard base64). Applied alike to
# bodies and to forms, it maps every case variant and both base64 alphabets of a form onto one needle.
_FOLD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_",
    b"abcdefghijklmnopqrstuvwxyz+/",
)


def _fold(data: bytes) -> bytes:
    return data.translate(_FOLD)


def _base64_forms(secret: bytes) -> list[str]:
    """The secret's base64 text at each of the three alignments it can have inside a longer encoded string.

    At an offset of k bytes (k = 0, 1, 2) into the encoded data, the first characters also carry bits of the
    preceding bytes and the last ones bits of what follows; only the characters made of the secret's bits
    alone are fixed, so those are the form. Standard alphabet; the URL-safe one is derived by the caller.
    """
    forms = []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + secret).decode("ascii")
        start = -(-8 * k // 6)  # the first character with no bit of the k prefix bytes
        end = 8 * (k + len(secret)) // 6  # characters wholly inside the secret's bits
        forms.append(encoded[start:end])
    return forms


def secret_forms(secret: str) -> list[tuple[str, bool]]:
    """Every form of `secret` to mask, as (text, case_sensitive).

    - as is, case-insensitively (covers lower- and upper-cased echoes);
    - percent-encoded (any hex case), every reserved character encoded or '/' kept;
    - base64, standard and URL-safe, at the three alignments (case-sensitive: base64 is);
    - each of the above with '/' JSON-escaped as '\\/', and base64 forms percent-encoded too.
    An empty list for a value too short to be a credential.
    """
    if not secret or len(secret) < MIN_SECRET_CHARS:
        return []
    forms: dict[tuple[str, bool], None] = {}

    def add(text: str, case_sensitive: bool) -> None:
        if len(text) >= MIN_SECRET_CHARS:
            forms[(text, case_sensitive)] = None
            if "/" in text:
                forms[(text.replace("/", "\\/"), case_sensitive)] = None

    add(secret, False)
    add(quote(secret, safe=""), False)
    add(quote(secret, safe="/"), False)
    for b64 in _base64_forms(secret.encode("utf-8")):
        add(b64, True)
        add(b64.replace("+", "-").replace("/", "_"), True)
        for encoded in {quote(b64, safe=""), quote(b64, safe="/")} - {b64}:
            # Percent-encoding adds hex digits of either case around a case-sensitive core.
            add(encoded, True)
            add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded), True)
    return list(forms)


class Masker:
    """Finds and masks the forms of a set of secrets (values shorter than MIN_SECRET_CHARS are ignored)."""

    def __init__(self, secrets: Iterable[str | bytes | None]) -> None:
        values = []
        for s in secrets:
            if isinstance(s, bytes):
                s = s.decode("utf-8", "replace")
            if s and len(s) >= MIN_SECRET_CHARS and s not in values:
                values.append(s)
        forms = [f for s in values for f in secret_forms(s)]
        # Longest first: at one position the regex takes the first alternative that matches.
        forms.sort(key=lambda f: -len(f[0]))
        self.max_len = max((len(f.encode("utf-8")) for f, _ in forms), default=0)
        # Needles of the prefilter: each form folded. Forms with '\' or '%' can only occur in a body that holds
        # that byte, which a one-byte search (memchr) tells at almost no cost, so they are searched only then.
        plain, escaped, encoded = set(), set(), set()
        for text, _ in forms:
            needle = _fold(text.encode("utf-8"))
            (escaped if b"\\" in needle else encoded if b"%" in needle else plain).add(needle)
        self._plain, self._escaped, self._encoded = tuple(plain), tuple(escaped), tuple(encoded)
        self._bytes_re = _alternation([(f.encode("utf-8"), cs) for f, cs in forms]) if forms else None
        self._text_re = _alternation(forms) if forms else None

    def __bool__(self) -> bool:
        return self._bytes_re is not None

    def maybe_in(self, data: bytes) -> bool:
        """False when no form occurs in `data`; True when one may (then `mask_bytes` decides)."""
        if self._bytes_re is None or not data:
            return False
        folded = _fold(data)
        if any(n in folded for n in self._plain):
            return True
        if self._escaped and b"\\" in data and any(n in folded for n in self._escaped):
            return True
        return bool(self._encoded) and b"%" in data and any(n in folded for n in self._encoded)

    def mask_bytes(self, data: bytes) -> bytes:
        if not self.maybe_in(data):
            return data
        return self._bytes_re.sub(MASK.encode(), data)  # type: ignore[union-attr]

    def mask_text(self, text: str) -> str:
        if self._text_re is None or not text:
            return text
        return self._text_re.sub(MASK, text)

    def mask_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Mask a body read in chunks; a form split across two chunks is found too.

        The last max_len - 1 bytes of each chunk wait for the next one: a form that starts before that point
        ends inside the bytes at hand, so it is found whole.
        """
        if self._bytes_re is None:
            yield from chunks
            return
        keep = self.max_len - 1
        carry = b""
        for chunk in chunks:
            data = carry + chunk
            safe = len(data) - keep
            if safe <= 0:
                carry = data
                continue
            if not self.maybe_in(data):
                yield data[:safe]
                carry = data[safe:]
                continue
            out, pos = [], 0
            for match in self._bytes_re.finditer(data):
                if match.start() >= safe:
                    break
                out += [data[pos:match.start()], MASK.encode()]
                pos = match.end()
            cut = max(pos, safe)
            out.append(data[pos:cut])
            yield b"".join(out)
            carry = data[cut:]
        if carry:
            yield self.mask_bytes(carry)


def _alternation(forms: list[tuple[str, bool]] | list[tuple[bytes, bool]]) -> re.Pattern:
    parts = [re.escape(text) if case_sensitive else f"(?i:{re.escape(text)})" if isinstance(text, str)
             else b"(?i:" + re.escape(text) + b")" for text, case_sensitive in forms]
    joiner = "|" if isinstance(forms[0][0], str) else b"|"
    return re.compile(joiner.join(parts))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=64)
def masker_for(secrets: tuple[str | bytes | None, ...]) -> Masker:
    """A cached Masker: redacting messages builds one per distinct set of secrets, not one per message."""
    return Masker(secrets)
