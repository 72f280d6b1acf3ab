"""Error bodies exactly as the gateway (APIG) and the ModelArts service write them (reference section 7).

Gateway errors carry the request id in the body as well as in the X-Request-Id header; service errors
carry only `error_code` and `error_msg`.
"""

from dataclasses import dataclass

AUTH_PREFIX = "Incorrect IAM authentication information: "
# The exact wording for a missing or unparseable Authorization header is undocumented (reference section 9).
# "x-auth-token not found" is APIG's text when it finds no credential at all; the second is our own.
MSG_NO_CREDENTIAL = AUTH_PREFIX + "x-auth-token not found"
MSG_BAD_AUTHORIZATION = AUTH_PREFIX + "unsupported authorization header format"
MSG_AK_UNKNOWN = AUTH_PREFIX + "Get secretKey failed,ak:{ak},err:ak not exist"
MSG_SIGNATURE_EXPIRED = AUTH_PREFIX + "signature expired, signature time:{signed},server time:{server}"
MSG_SIGNATURE_MISMATCH = AUTH_PREFIX + "verify aksk signature fail"
MSG_SECURITY_TOKEN = AUTH_PREFIX + "verify security token fail"
MSG_TOKEN_UNKNOWN = AUTH_PREFIX + "decrypt token fail"
MSG_TOKEN_EXPIRED = AUTH_PREFIX + "token expires, expires_at:{expires_at}"
MSG_NOT_AUTHORIZED = "The IAM user is not authorized to access the API."
MSG_NO_API = "The API does not exist or has not been published in the environment."
MSG_NO_API_METHOD = "The API does not exist."
MSG_THROTTLED = "The throttling threshold has been reached: policy user over ratelimit,limit:{limit},time:1 second"
MSG_BACKEND_UNAVAILABLE = "Backend unavailable."
MSG_BACKEND_TIMEOUT = "Backend timeout."
MSG_POOL_NOT_FOUND = "pool not found"
MSG_BAD_REQUEST = "Bad request."
MSG_INTERNAL = "internal error"
MSG_TOKEN_PROJECT = "The project id in the request URL does not match the token."


@dataclass
class ApiError(Exception):
    """An error answer: gateway errors (`gateway=True`) echo the request id in the body."""

    status: int
    code: str
    message: str
    gateway: bool = True

    def body(self, request_id: str) -> dict:
        out = {"error_code": self.code, "error_msg": self.message}
        if self.gateway:
            out["request_id"] = request_id
        return out


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "APIGW.0301", message)


def forbidden() -> ApiError:
    return ApiError(403, "APIGW.0302", MSG_NOT_AUTHORIZED)


def no_such_api(wrong_method: bool = False) -> ApiError:
    return ApiError(404, "APIGW.0101", MSG_NO_API_METHOD if wrong_method else MSG_NO_API)


def throttled(limit: int) -> ApiError:
    return ApiError(429, "APIGW.0308", MSG_THROTTLED.format(limit=limit))


def pool_not_found() -> ApiError:
    return ApiError(404, "ModelArts.50015001", MSG_POOL_NOT_FOUND, gateway=False)


def bad_request() -> ApiError:
    return ApiError(400, "ModelArts.50004000", MSG_BAD_REQUEST, gateway=False)


def token_project_mismatch() -> ApiError:
    return ApiError(403, "ModelArts.0210", MSG_TOKEN_PROJECT, gateway=False)


def server_error(status: int) -> ApiError:
    """500 comes from the service itself; 502/503/504 from the gateway in front of it."""
    if status == 500:
        return ApiError(500, "ModelArts.50005000", MSG_INTERNAL, gateway=False)
    if status == 504:
        return ApiError(504, "APIGW.0201", MSG_BACKEND_TIMEOUT)
    return ApiError(status, "APIGW.0201", MSG_BACKEND_UNAVAILABLE)
