"""Domain errors, their stable codes and the one middleware that renders them as ErrorResponse."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from suanli.controlplane.storage_faults import RETRY_AFTER_S, storage_fault_code
from suanli.schema import ErrorDetail, ErrorResponse

log = logging.getLogger(__name__)

# Every code the API can answer, with its HTTP status. Codes are stable: never reuse or rename one.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "the body is not valid JSON"),
    "invalid_query": (400, "a query parameter is malformed"),
    "invalid_cursor": (400, "the paging cursor is not one this server issued"),
    "unauthenticated": (401, "no `Authorization: Bearer <secret>` header"),
    "invalid_credential": (401, "the node credential is unknown or revoked"),
    "invalid_api_key": (401, "the API key is unknown or revoked"),
    "token_unknown": (401, "the bootstrap token is unknown"),
    "token_expired": (401, "the bootstrap token has expired"),
    "token_revoked": (401, "the bootstrap token was revoked"),
    "token_used_up": (403, "the bootstrap token has no uses left"),
    "forbidden_role": (403, "the caller's role may not do this"),
    "node_mismatch": (403, "a report names a node other than the caller"),
    "node_revoked": (403, "the node was revoked and may not report"),
    "not_found": (404, "no such resource"),
    "node_not_found": (404, "no such node"),
    "method_not_allowed": (405, "the method is not allowed on this resource"),
    "body_too_large": (413, "the request body exceeds the size limit"),
    "unsupported_media_type": (415, "the body must be sent as application/json"),
    "batch_too_large": (413, "the batch holds more reports than allowed"),
    "validation_failed": (422, "the body does not match the schema"),
    "location_mismatch": (422, "the inventory names another data center than the token's"),
    "timestamp_out_of_window": (422, "a report's sent_at is before 2025 or more than a day ahead of the server"),
    "rate_limited": (429, "too many requests from this caller; wait for Retry-After seconds"),
    "internal_error": (500, "an unexpected error; the server logged it"),
    "unavailable": (503, "a dependency (the database) is not reachable"),
    "storage_full": (507, "the database cannot write (disk full or write refused); retry after Retry-After"),
}
MAX_REPORTED_VALIDATION_ERRORS = 20


class ApiError(Exception):
    """A refusal with a stable code; the middleware turns it into the JSON error body."""

    def __init__(self, code: str, message: str | None = None, detail: Any = None) -> None:
        if code not in ERROR_CODES:
            raise KeyError(f"unregistered error code {code!r}")
        self.code = code
        self.status = ERROR_CODES[code][0]
        self.message = message or ERROR_CODES[code][1]
        self.detail = detail
        super().__init__(f"{code}: {self.message}")


def validation_detail(error: ValidationError) -> dict[str, Any]:
    """Field paths (pydantic `loc`) without echoing input; batch errors name the report index."""
    errors = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        loc = list(item["loc"])
        entry: dict[str, Any] = {"loc": loc, "msg": item["msg"], "type": item["type"]}
        if len(loc) >= 2 and loc[0] == "reports" and isinstance(loc[1], int):
            entry["index"] = loc[1]
        errors.append(entry)
    return {"errors": errors[:MAX_REPORTED_VALIDATION_ERRORS], "error_count": len(errors)}


def error_response(code: str, message: str | None = None, detail: Any = None) -> web.Response:
    status, default_message = ERROR_CODES[code]
    body = ErrorResponse(error=ErrorDetail(code=code, message=message or default_message, detail=detail))
    return web.json_response(body.model_dump(mode="json"), status=status)


_HTTP_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """One place where every failure becomes `{"error": {...}}` with a stable code, never a bare 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.code, exc.message, exc.detail)
    except ValidationError as exc:
        return error_response("validation_failed", detail=validation_detail(exc))
    except web.HTTPException as exc:
        code = _HTTP_STATUS_CODES.get(exc.status)
        if code is None or exc.status < 400:
            raise
        return error_response(code, exc.reason if code != "body_too_large" else None)
    except Exception as exc:
        code = storage_fault_code(exc)
        if code is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response("internal_error")
        log.warning("%s on %s %s: %s", code, request.method, request.path, type(exc).__name__)
        response = error_response(code)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
