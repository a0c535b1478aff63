"""Domain errors become readable JSON at the edge: ``{"error": code, "message": text}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import errors
from core.metrics.names import REQUEST_ERRORS

log = logging.getLogger(__name__)

# (status, code) per domain error; the first matching class in the MRO wins.
_STATUS: dict[type[errors.CreatureVisError], tuple[int, str]] = {
    errors.EmptyImage: (400, "empty_image"),
    errors.NotAnImage: (415, "not_an_image"),
    errors.UnsupportedImageFormat: (415, "unsupported_image_format"),
    errors.TruncatedImage: (422, "truncated_image"),
    errors.ImageTooLarge: (413, "image_too_large"),
    errors.TooManyPixels: (413, "too_many_pixels"),
    errors.ImageRejected: (422, "image_rejected"),
    errors.UnknownInteraction: (404, "unknown_interaction"),
    errors.InvalidLabel: (422, "invalid_label"),
    errors.ReservedSource: (422, "reserved_source"),
    errors.NoSession: (400, "no_session"),
    errors.UnknownApiKey: (401, "invalid_api_key"),
    errors.IdentityInBody: (422, "user_id_not_accepted"),
    errors.Throttled: (429, "rate_limited"),
    errors.ForgottenMeanwhile: (409, "forgotten"),
    errors.ObjectNotFound: (404, "not_found"),
    errors.ModelArtifactError: (503, "model_unavailable"),
    errors.ConfigurationError: (503, "misconfigured"),
}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


class ModelUnavailable(errors.CreatureVisError):
    """The model could not answer (still loading, failed to load, shutting down)."""

    user_message = "The model is not available right now. Please try again in a moment."


class AnswerMissing(errors.CreatureVisError):
    """Feedback said neither ``correct`` nor which label is right."""

    user_message = "Say whether the prediction was correct, or pick the right label."


_STATUS[ModelUnavailable] = (503, "model_unavailable")
_STATUS[AnswerMissing] = (422, "missing_answer")


def error_body(code: str, message: str) -> dict[str, str]:
    """Return the JSON body of an error response."""
    return {"error": code, "message": message}


def status_of(exc: errors.CreatureVisError) -> tuple[int, str]:
    """Return the HTTP status and error code for a domain error."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500, "internal"


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.CreatureVisError)  # noqa: S101  (registered for this type)
    status, code = status_of(exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        await _count(request, code)
    headers = _headers_of(exc)
    return JSONResponse(error_body(code, exc.user_message), status_code=status, headers=headers)


def _headers_of(exc: errors.CreatureVisError) -> dict[str, str] | None:
    if isinstance(exc, errors.Throttled):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, errors.UnknownApiKey):
        return {"WWW-Authenticate": 'Bearer realm="creature-vis"'}
    return None


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
    message = "The request is missing something or has a wrong value: " + "; ".join(problems)
    return JSONResponse(error_body("invalid_request", message), status_code=422)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    await _count(request, type(exc).__name__)
    return JSONResponse(
        error_body("internal", "Something went wrong on our side. Please try again."),
        status_code=500,
    )


async def _count(request: Request, error: str) -> None:
    """Record a server-side failure in the metrics sink (never failing the response)."""
    state = getattr(request.app.state, "server", None)
    if state is None:
        return
    labels = {"component": "model_server", "error": error}

    def write() -> None:
        state.errors.record(REQUEST_ERRORS, 1, labels)
        state.errors.flush()

    try:
        await run_in_threadpool(write)
    except Exception:  # counting is best effort: the person still gets their answer
        log.warning("could not record the error metric", exc_info=True)


def install_error_handlers(app: FastAPI) -> None:
    """Register the translations from exceptions to JSON error responses."""
    app.add_exception_handler(errors.CreatureVisError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
