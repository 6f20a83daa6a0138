"""Every way a request can fail, each an HTTP status with the one JSON shape ``{code, message,
hint}`` (STYLE.md rule 4)."""

from __future__ import annotations

from typing import Any, ClassVar

from pipeline.errors import PipelineError


class IngestError(PipelineError):
    """A rejected request; ``status`` is its HTTP status, ``retry_after`` (s) when retryable."""

    status: ClassVar[int] = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, hint: str = "",
                 retry_after: int | None = None, **facts: Any):
        super().__init__(message, code=code, hint=hint, **facts)
        self.retry_after = retry_after


class BadRequest(IngestError):
    status = 400
    code = "bad_request"


class Unauthorized(IngestError):
    status = 401
    code = "unauthorized"


class Forbidden(IngestError):
    status = 403
    code = "forbidden"


class NotFound(IngestError):
    status = 404
    code = "not_found"


class MethodNotAllowed(IngestError):
    status = 405
    code = "method_not_allowed"


class RequestTimeout(IngestError):
    status = 408
    code = "body_timeout"


class TooLarge(IngestError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(IngestError):
    status = 415
    code = "unsupported_encoding"


class RateLimited(IngestError):
    status = 429
    code = "rate_limited"


class Internal(IngestError):
    status = 500
    code = "internal_error"


class Unavailable(IngestError):
    status = 503
    code = "unavailable"


#: Every error status the edge answers, with its codes: the OpenAPI document is built from it.
ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: ("malformed_json", "too_deep", "bad_batch", "bad_gzip", "bad_timestamp",
          "invalid_event"),
    401: ("missing_key", "invalid_key"),
    403: ("wrong_app",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    408: ("body_timeout",),
    413: ("batch_too_large", "event_too_large"),
    415: ("unsupported_encoding",),
    429: ("rate_limited",),
    500: ("internal_error",),
    503: ("nats_unavailable", "publish_timeout", "stream_full", "auth_unavailable", "draining"),
}
