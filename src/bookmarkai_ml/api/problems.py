"""Every error the API returns is ``application/problem+json`` (RFC 9457) with a stable ``code``.

One place maps the error tree (``errors.py``), FastAPI's validation errors and
Starlette's HTTP errors (404, 405, ...) to problems. Clients branch on ``code``,
never on ``title`` or ``detail``. Unexpected exceptions become a bare 500 whose
body says nothing about the cause; the log gets the exception type and an error id,
with the traceback only at DEBUG, so neither stack traces nor secrets leak.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookmarkai_ml import errors
from bookmarkai_ml.api.ratelimit import RateLimitedError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class ValidationIssue(BaseModel):
    """One field that failed validation (no echo of the input: it may hold secrets)."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document plus ``code``, the stable machine-readable reason."""

    type: str = Field(description="URI naming the problem type.")
    title: str
    status: int
    code: str = Field(description="Stable error code, e.g. not_found, rate_limited.")
    detail: str | None = None
    instance: str | None = None
    retry_after_s: int | None = None
    errors: list[ValidationIssue] | None = None


#: The error tree's HTTP status; the most specific class listed wins (checked in MRO order).
STATUS: dict[type[errors.BookmarkAIError], int] = {
    errors.AuthError: 401,
    errors.ForbiddenError: 403,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.InvalidInputError: 422,
    errors.ContractError: 422,
    errors.PermanentError: 422,
    errors.BudgetExceededError: 429,
    RateLimitedError: 429,
    errors.RetryableError: 503,
    errors.ConfigurationError: 503,
}

_STARLETTE_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem+json for ``codes``."""
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {code: {"model": Problem, "content": content} for code in codes}


def tidy_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses are problem+json only: drop the JSON twin FastAPI adds for ``model``.

    Every operation with a body also declares 400 (not JSON) and 413 (over the body
    limit): the ASGI guards in ``limits.py`` answer those before any route runs.
    """
    problem_json = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                for status in (400, 413):
                    entry = {"description": HTTPStatus(status).phrase, "content": problem_json}
                    operation.setdefault("responses", {}).setdefault(str(status), entry)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in "45" and MEDIA_TYPE in content:
                    content.pop("application/json", None)
    return schema


def problem(
    status: int,
    code: str,
    *,
    detail: str | None = None,
    instance: str | None = None,
    retry_after_s: float | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; ``retry_after_s`` also sets the ``Retry-After`` header."""
    out_headers = dict(headers or {})
    retry = None if retry_after_s is None else max(1, math.ceil(retry_after_s))
    if retry is not None:
        out_headers["Retry-After"] = str(retry)
    body = Problem(
        type=f"urn:bookmarkai-ml:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        code=code,
        detail=detail,
        instance=instance,
        retry_after_s=retry,
    ).model_dump(exclude_none=True)
    body.update(extra)
    if instance and instance.startswith("/v1/"):
        # OpenAI clients read ``error.message``; keep the problem fields for everyone else.
        body["error"] = {"message": detail or body["title"], "type": code, "code": code}
    return JSONResponse(body, status_code=status, headers=out_headers, media_type=MEDIA_TYPE)


def status_of(exc: errors.BookmarkAIError) -> int:
    """The HTTP status of an error-tree exception."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _retry_after(exc: errors.BookmarkAIError) -> float | None:
    if isinstance(exc, errors.BudgetExceededError):
        return max(0.0, (exc.retry_after - datetime.now(UTC)).total_seconds())
    retry = getattr(exc, "retry_after_s", None)
    return float(retry) if retry is not None else None


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.BookmarkAIError)
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    # 5xx details may name hosts or drivers; keep them in the log, not the body.
    detail = exc.message if status < 500 else None
    if status >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, exc.code, exc)
    return problem(
        status,
        exc.code,
        detail=detail,
        instance=request.url.path,
        retry_after_s=_retry_after(exc),
        headers=headers,
    )


def _issue(raw: Any) -> ValidationIssue:
    loc = [p if isinstance(p, int) else str(p) for p in raw.get("loc", ())]
    if raw.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        # Point at the discriminator field (e.g. ``task``), not at the whole body.
        loc.append(str(raw.get("ctx", {}).get("discriminator", "")).strip("'"))
    return ValidationIssue(loc=loc, msg=str(raw.get("msg", "")), type=str(raw.get("type", "")))


def problem_of(exc: errors.BookmarkAIError, *, instance: str | None = None) -> Problem:
    """The problem document of an error-tree exception (5xx details withheld, as above)."""
    status = status_of(exc)
    return Problem(
        type=f"urn:bookmarkai-ml:problem:{exc.code}",
        title=HTTPStatus(status).phrase,
        status=status,
        code=exc.code,
        detail=exc.message if status < 500 else None,
        instance=instance,
    )


def validation_problem(raw_errors: Sequence[Any], *, instance: str | None = None) -> Problem:
    """The 422 ``validation_error`` problem of pydantic's ``errors()`` list."""
    return Problem(
        type="urn:bookmarkai-ml:problem:validation_error",
        title=HTTPStatus(422).phrase,
        status=422,
        code="validation_error",
        detail="the request does not match the schema",
        instance=instance,
        errors=[_issue(e) for e in raw_errors],
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [_issue(e) for e in exc.errors()]
    if any(i.type == "json_invalid" for i in issues):
        return problem(
            400, "malformed_json", detail="the body is not valid JSON", instance=request.url.path
        )
    return problem(
        422,
        "validation_error",
        detail="the request does not match the schema",
        instance=request.url.path,
        errors=[i.model_dump() for i in issues],
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"(\{[^/{}]+\})")


def _template(path: str) -> re.Pattern[str]:
    parts = _PARAM.split(path)
    return re.compile("".join("[^/]+" if _PARAM.fullmatch(p) else re.escape(p) for p in parts))


def _allowed_methods(request: Request) -> str | None:
    """The methods the OpenAPI schema documents for the path (RFC 9110, section 15.5.6).

    Starlette's 405 names only the first route whose path matched, so ``GET`` and
    ``DELETE`` of one path in two routes answered ``Allow: GET``. A literal template wins
    over a parameterised one (``/jobs/batch`` is not ``/jobs/{job_id}``), as in routing.
    """
    best: tuple[int, list[str]] | None = None
    for path, operations in request.app.openapi().get("paths", {}).items():
        if _template(path).fullmatch(request.url.path):
            rank = len(_PARAM.findall(path))
            if best is None or rank < best[0]:
                best = (rank, [m.upper() for m in operations if m.upper() in _METHODS])
    return ", ".join(best[1]) if best and best[1] else None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _STARLETTE_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return problem(exc.status_code, code, detail=detail, instance=request.url.path, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers and the last-resort guard on ``app``."""
    app.add_exception_handler(errors.BookmarkAIError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(UnhandledErrorGuard)


class UnhandledErrorGuard:
    """Turns any exception that escaped the handlers into a bare 500 problem.

    Starlette's own ``ServerErrorMiddleware`` re-raises after answering, so the server
    would log a full traceback; this guard sits inside it and swallows the exception.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            error_id = uuid.uuid4().hex[:12]
            log.error(
                "unhandled %s on %s %s (error id %s)",
                type(exc).__name__,
                scope.get("method"),
                scope.get("path"),
                error_id,
            )
            log.debug("traceback of error id %s", error_id, exc_info=exc)
            if started:
                return
            response = problem(500, "internal_error", detail=f"error id {error_id}")
            await response(scope, receive, send)
