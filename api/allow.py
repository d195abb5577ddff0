"""405 answers name every method the path allows (RFC 9110 `Allow`), not only those of the first route that matched.

Starlette answers 405 from the first route whose path matches, with that route's methods only: on a path served by
two routes (GET and POST on /v1/patients/{address}/records) an OPTIONS or PUT was told `Allow: POST`, leaving GET
out. Here the Allow header is the union of the methods the OpenAPI document declares for the paths that match.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.problems import ProblemError, problem_response
from i18n import _

_HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document declares for the most specific path template matching `path` (literal
    segments beat parameters: /v1/prescriptions/tokens is not /v1/prescriptions/{id}), plus HEAD where GET is."""
    matches: list[tuple[int, set[str]]] = []
    for template, item in app.openapi().get("paths", {}).items():
        parts = re.split(r"(\{[^/{}]+\})", template)
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        if re.fullmatch(pattern, path):
            matches.append((template.count("{"), {method.upper() for method in item if method.upper() in _HTTP_METHODS}))
    fewest = min((count for count, _methods in matches), default=0)
    methods = set().union(*(found for count, found in matches if count == fewest))
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_allow_handler(app: FastAPI) -> None:
    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        allow = ", ".join(allowed_methods(app, request.url.path)) or dict(exc.headers or {}).get("Allow", "")
        detail = _("{method} is not allowed on {path}; allowed: {allow}").format(method=request.method, path=request.url.path, allow=allow)
        return problem_response(ProblemError(405, "method-not-allowed", _("Method Not Allowed"), detail, headers={"Allow": allow}))
