"""The one error tree. Everything a client can be told goes through here.

    GatewayError                         status  type                   code (default)
     ├── InvalidRequest                  400     invalid_request_error  invalid_value
     │    ├── MissingParameter           400                            missing_required_parameter
     │    ├── UnsupportedParameter       400                            unsupported_parameter
     │    ├── InvalidType                400                            invalid_type
     │    └── UpstreamRejected           400     (the upstream's type and code)
     ├── AuthenticationFailed            401     invalid_request_error  invalid_api_key
     ├── PermissionDenied                403     invalid_request_error  permission_denied
     ├── Forbidden                       403     permission_error       forbidden
     │    ├── ModelNotAllowed            403                            model_not_allowed
     │    ├── ModelUnpriced              403                            model_unpriced
     │    └── LimitExceeded              403                            limit_exceeded
     ├── NotFound                        404     invalid_request_error  not_found
     │    └── ModelNotFound              404                            model_not_found
     ├── MethodNotAllowed                405     invalid_request_error  method_not_allowed
     ├── RequestTimeout                  408     invalid_request_error  request_timeout
     ├── Conflict                        409     invalid_request_error  conflict
     ├── PayloadTooLarge                 413     invalid_request_error  payload_too_large
     ├── RateLimited                     429     rate_limit_error       rate_limit_exceeded
     │    └── QuotaExceeded              429     insufficient_quota     insufficient_quota
     ├── UpstreamFailed                  502     upstream_error         upstream_error
     ├── NoCarrierAvailable              503     server_error           no_carrier_available
     │    └── CarriersCoolingDown        503                            carriers_cooling_down
     ├── TooManyConnections              503     server_error           too_many_connections
     ├── UploadSpaceExhausted            503     server_error           insufficient_storage
     ├── ShuttingDown                    503     server_error           shutting_down
     ├── Overloaded                      503     server_error           overloaded
     ├── SharedStateUnavailable          503     server_error           shared_state_unavailable
     ├── UpstreamTimeout                 504     timeout_error          upstream_timeout
     └── StorageFailed                   500     server_error           storage_failed

Deterministic failures (every 4xx but 429) carry ``x-should-retry: false`` so SDKs do not pay
for the same refusal three times. :func:`error_body` and :func:`error_headers` are the one
rendering of an error, used by every renderer (JSON, event stream, keep-alive, async jobs);
``app.api.exception_handlers`` is the only place that turns them into HTTP responses.
"""

from __future__ import annotations

import math
import re

import orjson

_UNSAFE = re.compile(r"[^\x20-\x7e]")


class GatewayError(Exception):
    """Base of every error a client sees; carries the HTTP status and the OpenAI envelope."""

    status = 500
    type = "server_error"
    code: str | None = "internal_error"
    should_retry: bool | None = None  # None: let the SDK decide by status

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if type is not None:
            self.type = type
        self.retry_after = retry_after
        self.headers: dict[str, str] = {}
        # What was tried before this error (``carrier:outcome``), for the client and the record.
        self.attempts: tuple[str, ...] = ()
        self.attempt_seconds: tuple[float, ...] = ()

    def envelope(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_value"
    should_retry = False


class MissingParameter(InvalidRequest):
    code = "missing_required_parameter"


class UnsupportedParameter(InvalidRequest):
    code = "unsupported_parameter"


class InvalidType(InvalidRequest):
    code = "invalid_type"


class UpstreamRejected(InvalidRequest):
    """The upstream refused the request itself (validation, content policy): never retried."""


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"
    should_retry = False


class PermissionDenied(GatewayError):
    status = 403
    type = "invalid_request_error"
    code = "permission_denied"
    should_retry = False


class Forbidden(GatewayError):
    """The key is valid but may not do this (its policy or its team's)."""

    status = 403
    type = "permission_error"
    code = "forbidden"
    should_retry = False


class ModelNotAllowed(Forbidden):
    code = "model_not_allowed"


class ModelUnpriced(Forbidden):
    """A key with a budget asked for a model without a price: it would spend "0"."""

    code = "model_unpriced"


class LimitExceeded(Forbidden):
    """A parameter beyond the key's limits (``param`` names it)."""

    code = "limit_exceeded"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    should_retry = False


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"
    should_retry = False


class RequestTimeout(GatewayError):
    """The client did not send its request's headers in time (the connection is closed)."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"
    should_retry = False


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"
    should_retry = False


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"
    should_retry = False


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class QuotaExceeded(RateLimited):
    """The budget is spent for this period: retrying now cannot help (``x-should-retry``)."""

    type = "insufficient_quota"
    code = "insufficient_quota"
    should_retry = False


class UpstreamFailed(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class NoCarrierAvailable(GatewayError):
    status = 503
    type = "server_error"
    code = "no_carrier_available"
    should_retry: bool | None = False


class CarriersCoolingDown(NoCarrierAvailable):
    """Every carrier is in cooldown: worth retrying once it ends (``retry-after``)."""

    code = "carriers_cooling_down"
    should_retry: bool | None = None


class TooManyConnections(GatewayError):
    """This worker holds ``server.max_connections`` open connections already."""

    status = 503
    type = "server_error"
    code = "too_many_connections"


class UploadSpaceExhausted(GatewayError):
    """The spool (the upload temp directory) cannot take the request's bytes: disk full,
    read-only or missing. Retryable once space frees up."""

    status = 503
    type = "server_error"
    code = "insufficient_storage"


class ShuttingDown(GatewayError):
    """The gateway is stopping and this request outlived the grace period. Its work goes on
    (the image is still stored), so an idempotent retry finds the answer."""

    status = 503
    type = "server_error"
    code = "shutting_down"
    should_retry: bool | None = True


class Overloaded(GatewayError):
    """This gateway is at a capacity limit right now; worth retrying (``retry-after``)."""

    status = 503
    type = "server_error"
    code = "overloaded"


class SharedStateUnavailable(GatewayError):
    """Redis (the replicas' shared counters) does not answer and ``redis.on_failure`` is
    ``refuse``: a request whose limits are counted there waits for it (``retry-after``)."""

    status = 503
    type = "server_error"
    code = "shared_state_unavailable"
    should_retry: bool | None = True


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class StorageFailed(GatewayError):
    status = 500
    type = "server_error"
    code = "storage_failed"


def error_body(error: GatewayError) -> bytes:
    """The OpenAI error envelope as JSON: ``{"error": {message, type, param, code}}``."""
    return orjson.dumps(error.envelope())


def error_object(error: GatewayError) -> bytes:
    """Just the inner error object, for an SSE ``error`` event or a failed job's ``error``."""
    return orjson.dumps(error.envelope()["error"])


def error_headers(error: GatewayError) -> dict[str, str]:
    """The headers every rendering of ``error`` carries: retry hints and what was tried."""
    headers = dict(error.headers)
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
        headers["retry-after-ms"] = str(int(error.retry_after * 1000))
    if error.attempts:
        headers["x-imagegate-attempts"] = header_value(",".join(error.attempts))
    return headers


def header_value(text: str, limit: int = 2000) -> str:
    """Printable ASCII only (no header injection, no encoding surprises), bounded in length."""
    return _UNSAFE.sub("?", text)[:limit]
