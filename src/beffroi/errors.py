"""Domain errors. Each carries its HTTP status; one handler in ``app.py`` renders them.

The body is always ``{"error": code, "message": text, "details": [{"field", "reason", ...}]}``
so that a client can tell which field, line or reading was wrong and why.
"""

from __future__ import annotations

from typing import Any


class BeffroiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(BeffroiError):
    status = 400
    code = "bad_request"


class Unauthorized(BeffroiError):
    """No credentials, or credentials that are unknown, expired, revoked or disabled."""

    status = 401
    code = "unauthorized"


class Forbidden(BeffroiError):
    """Valid credentials whose role does not allow this route in this territory."""

    status = 403
    code = "forbidden"


class ValidationFailed(BeffroiError):
    status = 422
    code = "validation_failed"


class NotFound(BeffroiError):
    status = 404
    code = "not_found"


class Conflict(BeffroiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(BeffroiError):
    status = 413
    code = "payload_too_large"


class ConfigError(BeffroiError):
    """A setting or configuration file is wrong; raised before anything starts."""

    status = 500
    code = "configuration_error"


class StoreUnavailable(BeffroiError):
    status = 503
    code = "store_unavailable"


def field_error(field: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"field": field, "reason": reason, **extra}
