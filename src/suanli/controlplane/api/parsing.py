"""Request bodies parsed once with pydantic, malformed JSON told apart from schema errors."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from suanli.controlplane.errors import ApiError, validation_detail

Model = TypeVar("Model", bound=BaseModel)


# JSON, or text/plain because HTTP clients label a str body so; forms, multipart and XML are refused.
JSON_MEDIA_TYPES = frozenset({"application/json", "text/plain"})


def check_content_type(request: web.Request) -> None:
    """415 `unsupported_media_type` unless the body is labelled as JSON (or not labelled at all)."""
    if "Content-Type" not in request.headers:
        return
    media_type = request.content_type.lower()
    if media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise ApiError("unsupported_media_type", detail={"content_type": media_type[:100]})


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    """The body as `model`: 400 `invalid_json`, 422 `validation_failed` with field paths."""
    check_content_type(request)
    body = await request.read()  # aiohttp enforces client_max_size here (413)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise ApiError("invalid_json", detail={"errors": [e["msg"] for e in errors[:5]]}) from None
        if any(error["type"] == "too_long" and tuple(error["loc"]) == ("reports",) for error in errors):
            raise ApiError("batch_too_large") from None
        raise ApiError("validation_failed", detail=validation_detail(exc)) from None


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.model_dump_json(by_alias=True), status=status, content_type="application/json"
    )
