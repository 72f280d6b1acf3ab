"""Constants and helpers shared by the client tests (a uniquely named module: `conftest` is ambiguous)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

# Canary secrets: distinctive strings that must never show up in a repr, an exception text or a log line.
AK = "AKCANARY0123456789XY"
SK = "SKcanary-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e"
SECURITY_TOKEN = "STcanary-security-token-5e6f7a8b9c0d"
PASSWORD = "PWcanary-password-3c4d5e6f"
PROJECT = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class LoopbackCA:
    ca_file: Path  # what a client must trust
    cert_file: Path  # server certificate for 127.0.0.1, signed by the CA
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


class FakeTime:
    """A clock that only moves when the code under test sleeps: retry and pacing arithmetic without waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
