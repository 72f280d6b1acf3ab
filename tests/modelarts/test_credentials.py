"""Credentials from the environment, and secrets kept out of repr/str."""

import pytest

from pipeline.modelarts.credentials import (
    AkSkCredentials,
    TokenCredentials,
    credentials_from_env,
)
from pipeline.modelarts.errors import CredentialsError

from modelarts_testkit import AK, PASSWORD, SECURITY_TOKEN, SK


def test_aksk_from_env():
    creds = AkSkCredentials.from_env(
        {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK, "HUAWEICLOUD_SDK_SECURITY_TOKEN": SECURITY_TOKEN}
    )
    assert (creds.ak, creds.sk, creds.security_token) == (AK, SK, SECURITY_TOKEN)
    assert AkSkCredentials.from_env({"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}).security_token is None


@pytest.mark.parametrize(
    "env, missing",
    [
        ({"HUAWEICLOUD_SDK_SK": SK}, "HUAWEICLOUD_SDK_AK"),
        ({"HUAWEICLOUD_SDK_AK": AK}, "HUAWEICLOUD_SDK_SK"),
        ({"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": "   "}, "HUAWEICLOUD_SDK_SK"),
    ],
)
def test_aksk_missing_variable_is_named_not_valued(env, missing):
    with pytest.raises(CredentialsError) as info:
        AkSkCredentials.from_env(env)
    assert missing in str(info.value)
    assert SK not in str(info.value) and AK not in str(info.value)


def test_token_from_env_and_missing():
    env = {"HUAWEICLOUD_SDK_USERNAME": "alice", "HUAWEICLOUD_SDK_PASSWORD": PASSWORD, "HUAWEICLOUD_SDK_DOMAIN": "dom"}
    creds = TokenCredentials.from_env(env)
    assert (creds.username, creds.password, creds.domain) == ("alice", PASSWORD, "dom")
    del env["HUAWEICLOUD_SDK_DOMAIN"]
    with pytest.raises(CredentialsError, match="HUAWEICLOUD_SDK_DOMAIN") as info:
        TokenCredentials.from_env(env)
    assert PASSWORD not in str(info.value)


def test_credentials_from_env_picks_the_mode():
    assert isinstance(credentials_from_env({"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}), AkSkCredentials)
    token_env = {"HUAWEICLOUD_SDK_USERNAME": "u", "HUAWEICLOUD_SDK_PASSWORD": PASSWORD, "HUAWEICLOUD_SDK_DOMAIN": "d"}
    assert isinstance(credentials_from_env(token_env), TokenCredentials)
    # Half an AK/SK pair is an error about the missing half, not a silent switch to the other mode.
    with pytest.raises(CredentialsError, match="HUAWEICLOUD_SDK_SK"):
        credentials_from_env({"HUAWEICLOUD_SDK_AK": AK, **token_env})
    with pytest.raises(CredentialsError, match="HUAWEICLOUD_SDK_AK"):
        credentials_from_env({})


def test_from_env_reads_os_environ_only_when_called(monkeypatch):
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    assert AkSkCredentials.from_env().sk == SK


def test_repr_and_str_hide_secrets():
    aksk = AkSkCredentials(AK, SK, SECURITY_TOKEN)
    token = TokenCredentials("alice", PASSWORD, "dom")
    for text in (repr(aksk), str(aksk), repr(token), str(token), f"{aksk}", f"{token!r}"):
        assert SK not in text and SECURITY_TOKEN not in text and PASSWORD not in text and AK not in text
    assert "alice" in repr(token)  # the user name is not a secret and helps diagnose


def test_empty_values_rejected():
    with pytest.raises(CredentialsError, match="sk"):
        AkSkCredentials(AK, "")
    with pytest.raises(CredentialsError, match="password"):
        TokenCredentials("u", "", "d")
