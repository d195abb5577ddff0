"""RFC 9457 problem details: the one error shape of this API, for every failure (validation, 404, 405 too)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from i18n import N_, _, content_language, negotiate, use_language
from i18n.validation import validation_message

PROBLEM_BASE = "https://healthsilk.dev/problems/"
PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("healthsilk.api")


# Titles of the framework's own errors (HTTP reason phrases), in the request's language; the slug stays English.
HTTP_TITLES = {
    400: N_("Bad Request"), 401: N_("Unauthorized"), 403: N_("Forbidden"), 404: N_("Not Found"), 405: N_("Method Not Allowed"),
    406: N_("Not Acceptable"), 409: N_("Conflict"), 410: N_("Gone"), 413: N_("Content Too Large"), 415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Content"), 429: N_("Too Many Requests"), 500: N_("Internal Server Error"), 502: N_("Bad Gateway"),
    503: N_("Service Unavailable"), 504: N_("Gateway Timeout"), 507: N_("Insufficient Storage"),
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = Field(description="URI naming the kind of problem", examples=[PROBLEM_BASE + "forbidden"])
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="what went wrong in this request and what to do")


class ValidationIssue(BaseModel):
    location: str = Field(description="where in the request, e.g. body.patient, body.status")
    message: str = Field(description="what is wrong, in the request's language (Accept-Language)")
    type: str | None = Field(default=None, description="request validation: the error's code (pydantic's error type, e.g. missing, "
                             "string_pattern_mismatch), the same in every language")
    field: str | None = Field(default=None, description="FHIR uploads: JSON path inside the resource, e.g. status, component[0].code")
    value: Any = Field(default=None, description="FHIR uploads: the value given (null when none was, or it is not a plain value)")
    allowed: list[str] | None = Field(default=None, description="FHIR uploads: the codes the element's required binding allows")


class ValidationProblem(Problem):
    errors: list[ValidationIssue] = Field(default_factory=list)


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, slug: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.headers, self.extra = status, slug, title, detail, headers or {}, extra

    def document(self) -> dict[str, Any]:
        return {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


def problem_response(error: ProblemError) -> JSONResponse:
    return JSONResponse(error.document(), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers)


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", _("Authentication required"), detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", _("Not allowed"), detail)


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, "not-found", _("Not found"), detail)


def invalid(detail: str, **extra: Any) -> ProblemError:
    return ProblemError(422, "invalid-request", _("Invalid request"), detail, **extra)


def conflict(slug: str, title: str, detail: str, **extra: Any) -> ProblemError:
    return ProblemError(409, slug, title, detail, **extra)


def unavailable(slug: str, title: str, detail: str) -> ProblemError:
    return ProblemError(503, slug, title, detail, headers={"Retry-After": "5"})


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def install_problem_handlers(app: FastAPI) -> None:
    """Framework errors (404, 405, validation, anything unexpected) become problem documents too."""

    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            detail = _("there is no resource at {path}").format(path=request.url.path) if exc.detail in (None, "Not Found") else str(exc.detail)
        elif exc.status_code == 405:
            detail = _("{method} is not allowed on {path}").format(method=request.method, path=request.url.path)
        else:
            detail = str(exc.detail)
        title = _(HTTP_TITLES[exc.status_code]) if exc.status_code in HTTP_TITLES else (HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else _("Error"))
        return problem_response(ProblemError(exc.status_code, _slug(exc.status_code), title, detail, headers=dict(exc.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # `type` and `location` are for programs and stay the same in every language; `message` is for people.
        issues = [{"location": _location(error.get("loc", ())), "message": validation_message(error), "type": str(error.get("type", ""))} for error in exc.errors()]
        summary = "; ".join(f"{issue['location']}: {issue['message']}" for issue in issues[:5])
        return problem_response(ProblemError(422, "invalid-request", _("Invalid request"), summary or _("the request is not valid"), errors=issues))

    _install_invalid_resource_handler(app)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        # Starlette answers a 500 from its outermost middleware, outside i18n.asgi: choose the language here.
        language = negotiate(request.headers.get("accept-language"))
        with use_language(language):
            problem = ProblemError(500, "internal-error", _("Internal server error"), _("the server failed to handle this request; the error was logged"),
                                   headers={"Content-Language": content_language(language), "Vary": "Accept-Language"})
        return problem_response(problem)


def _install_invalid_resource_handler(app: FastAPI) -> None:
    """An invalid FHIR upload answers with the record service's problem plus `errors`: one entry per offending
    element (field path, value given, allowed codes).  Registered for InvalidResourceError itself, so it takes
    precedence over the generic RecordError handler of api/record_access.py, whose slug and title it reuses."""
    # lazy, like api.limits below: this module does not import the record service at load
    from records.errors import InvalidResourceError

    @app.exception_handler(InvalidResourceError)
    async def _invalid_resource(_request: Request, exc: InvalidResourceError) -> JSONResponse:
        # lazy: api.record_access imports this module
        from api.record_access import record_problem

        problem = record_problem(exc)
        problem.extra["errors"] = [
            {"location": "body." + issue.field if issue.field else "body", **issue.as_json()} for issue in exc.issues
        ]
        return problem_response(problem)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems a route may answer with."""
    described = {
        400: "Malformed request",
        401: "Missing, unknown or expired token",
        403: "Authenticated, but not allowed to do this",
        404: "Not found",
        409: "Refused by the ledger in its current state",
        413: "Request body too large",
        422: "Invalid request",
        502: "An upstream component answered wrongly",
        503: "Chain or IPFS unavailable",
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationProblem if status == 422 else Problem
        responses[status] = {"model": model, "description": described.get(status, HTTPStatus(status).phrase)}
    return responses


def problems_in_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Error responses are served as application/problem+json: say so in the OpenAPI document."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                if not status.isdigit() or int(status) < 400:
                    continue
                content = response.get("content", {})
                schema = (content.get(PROBLEM_JSON) or content.get("application/json") or {}).get("schema")
                if schema is None or schema.get("$ref", "").endswith("/HTTPValidationError"):
                    model = "ValidationProblem" if status == "422" else "Problem"
                    schema = {"$ref": f"#/components/schemas/{model}"}
                response["content"] = {PROBLEM_JSON: {"schema": schema}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, ValidationIssue, ValidationProblem):
        if model.__name__ not in schemas:
            schemas.update(model.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}))
            schemas[model.__name__] = {k: v for k, v in model.model_json_schema(ref_template="#/components/schemas/{model}").items() if k != "$defs"}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install_body_limit_handler(app: FastAPI) -> None:
    from api.limits import BodyTooLarge, too_large

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return problem_response(too_large(exc.limit))
