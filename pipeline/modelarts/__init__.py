"""ModelArts API access: signer, credentials, async client with retries, typed errors, pool JSON helpers."""

from pipeline.modelarts.body import SpilledBody
from pipeline.modelarts.client import ModelArtsClient
from pipeline.modelarts.responses import ApiResponse, AttemptRecord
from pipeline.modelarts.credentials import (
    AkSkCredentials,
    Credentials,
    TokenCredentials,
    credentials_from_env,
)
from pipeline.modelarts.errors import (
    AuthenticationError,
    BadRequestError,
    BodyTooLargeError,
    ClientRequestError,
    CredentialsError,
    MalformedResponseError,
    ModelArtsError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
    TlsError,
    TransportError,
)

__all__ = [
    "AkSkCredentials",
    "ApiResponse",
    "AttemptRecord",
    "AuthenticationError",
    "BadRequestError",
    "BodyTooLargeError",
    "ClientRequestError",
    "Credentials",
    "CredentialsError",
    "MalformedResponseError",
    "ModelArtsClient",
    "ModelArtsError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "ServerError",
    "SpilledBody",
    "ThrottledError",
    "TlsError",
    "TokenCredentials",
    "TransportError",
    "credentials_from_env",
]
