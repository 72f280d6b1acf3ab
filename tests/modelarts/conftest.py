"""Shared fixtures for the client tests: a loopback CA for the TLS tests."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from modelarts_testkit import LoopbackCA


@pytest.fixture(scope="session")
def loopback_ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    """A throwaway CA and a server certificate for IP 127.0.0.1, made with the openssl CLI.

    (The `cryptography` package is not in the venv.) A CA plus a leaf, rather than one self-signed leaf, so
    the chain passes strict X.509 checks too (Python 3.13 turns on VERIFY_X509_STRICT).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        # CI must not pass the TLS checks by skipping them.
        if os.environ.get("CI") == "true":
            pytest.fail("the openssl CLI is required under CI=true to make a loopback certificate")
        pytest.skip("the openssl CLI is needed to make a loopback certificate")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    run(
        "req", "-x509", "-new", "-key", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=poolscope test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    run("req", "-new", "-key", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    run(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    )
    return LoopbackCA(d / "ca.pem", d / "server.pem", d / "server.key")
