"""Credentials for the ModelArts client: AK/SK (optionally temporary, with a security token) or IAM password.

Environment variables (read only when `from_env` is called, never at import):

| variable | used by | meaning |
|---|---|---|
| `HUAWEICLOUD_SDK_AK` | AkSkCredentials | access key ID |
| `HUAWEICLOUD_SDK_SK` | AkSkCredentials | secret access key |
| `HUAWEICLOUD_SDK_SECURITY_TOKEN` | AkSkCredentials | optional; set for temporary AK/SK |
| `HUAWEICLOUD_SDK_USERNAME` | TokenCredentials | IAM user name |
| `HUAWEICLOUD_SDK_PASSWORD` | TokenCredentials | IAM user password |
| `HUAWEICLOUD_SDK_DOMAIN` | TokenCredentials | account (domain) name of that user |

The AK/SK names are the Huawei Cloud SDK's own (`BasicCredentials.get_basic_credential_from_environment`),
so an environment set up for the SDK or hcloud works unchanged.

`repr`/`str` of these objects never show the SK, the security token or the password; the AK is shortened
so that logs can still tell two keys apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.modelarts.errors import CredentialsError

ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
ENV_SECURITY_TOKEN = "HUAWEICLOUD_SDK_SECURITY_TOKEN"
ENV_USERNAME = "HUAWEICLOUD_SDK_USERNAME"
ENV_PASSWORD = "HUAWEICLOUD_SDK_PASSWORD"
ENV_DOMAIN = "HUAWEICLOUD_SDK_DOMAIN"


def _required(environ: Mapping[str, str], name: str, kind: str) -> str:
    value = environ.get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise CredentialsError(f"{kind} credentials need the environment variable {name}, which is not set or empty")
    return value


def _optional(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    value = value.strip() if isinstance(value, str) else None
    return value or None


def mask_ak(ak: str) -> str:
    """First 4 characters only: enough to tell keys apart in a log, useless to an attacker."""
    return ak[:4] + "…" if len(ak) > 4 else "…"


@dataclass(frozen=True)
class AkSkCredentials:
    ak: str
    sk: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("ak", "sk"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise CredentialsError(f"AK/SK credentials need a non-empty {name}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AkSkCredentials:
        env = os.environ if environ is None else environ
        return cls(
            ak=_required(env, ENV_AK, "AK/SK"),
            sk=_required(env, ENV_SK, "AK/SK"),
            security_token=_optional(env, ENV_SECURITY_TOKEN),
        )

    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any text we emit. The AK is included: gateway messages echo it."""
        return tuple(v for v in (self.ak, self.sk, self.security_token) if v)

    def __repr__(self) -> str:
        token = ", security_token=***" if self.security_token else ""
        return f"AkSkCredentials(ak={mask_ak(self.ak)!r}, sk=***{token})"

    __str__ = __repr__


@dataclass(frozen=True)
class TokenCredentials:
    """IAM user name + password; the client exchanges them for X-Auth-Token (reference section 6.4)."""

    username: str
    password: str = field(repr=False)
    domain: str

    def __post_init__(self) -> None:
        for name in ("username", "password", "domain"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise CredentialsError(f"IAM token credentials need a non-empty {name}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenCredentials:
        env = os.environ if environ is None else environ
        return cls(
            username=_required(env, ENV_USERNAME, "IAM token"),
            password=_required(env, ENV_PASSWORD, "IAM token"),
            domain=_required(env, ENV_DOMAIN, "IAM token"),
        )

    def secrets(self) -> tuple[str, ...]:
        return (self.password,)

    def __repr__(self) -> str:
        return f"TokenCredentials(username={self.username!r}, password=***, domain={self.domain!r})"

    __str__ = __repr__


Credentials = AkSkCredentials | TokenCredentials


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials:
    """AK/SK if either AK variable is set, else IAM user/password if the user name is set.

    A half-configured pair is an error naming the missing variable, rather than a silent fall-through to
    the other mode.
    """
    env = os.environ if environ is None else environ
    if _optional(env, ENV_AK) or _optional(env, ENV_SK):
        return AkSkCredentials.from_env(env)
    if _optional(env, ENV_USERNAME) or _optional(env, ENV_PASSWORD):
        return TokenCredentials.from_env(env)
    raise CredentialsError(
        f"no credentials in the environment: set {ENV_AK} and {ENV_SK} (optionally {ENV_SECURITY_TOKEN}), "
        f"or {ENV_USERNAME}, {ENV_PASSWORD} and {ENV_DOMAIN}"
    )
