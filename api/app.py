"""`create_app(settings, identity)`: the FastAPI service one member institution runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api.allow import install_allow_handler
from api.auth.store import AuthStore
from api.limits import BodySizeLimit
from api.metrics import Metrics, MetricsMiddleware
from api.record_access import install_record_handlers
from api.problems import install_body_limit_handler, install_problem_handlers, problems_in_openapi
from api.routers import access_log, admin, auth, consents, erasure, health, keys, network, payments, records
from api.routers import alerts, emergency
from api.routers import cases
from api.routers import prescriptions
from api.routers import publichealth
from api.services import Services
from api.settings import ApiSettings
from api.upstream_errors import install_upstream_handlers
from crypto import Identity
from i18n.asgi import LanguageMiddleware

DESCRIPTION = """The API a healthsilk member institution runs for its own systems and for patients' wallets.

Institution systems authenticate with scoped tokens (`hs_...`); patients sign a challenge with their wallet key
and get a short session token (`hsp_...`) that reaches only their own data. Every error is an RFC 9457
problem document (`application/problem+json`)."""


def create_app(settings: ApiSettings, identity: Identity) -> FastAPI:
    settings = settings.resolved()
    metrics = Metrics()
    svc = Services(settings=settings, identity=identity, auth=AuthStore(settings.token_db), metrics=metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        svc.close()

    # /docs and /redoc load Swagger UI / ReDoc and the favicon from this server (fastapi-offline ships them under
    # /static-offline-docs), never from a CDN: institutions run this API on closed networks, and third-party
    # JavaScript has no place on a health API. No validator badge either (it would call validator.swagger.io).
    app = FastAPIOffline(
        title="healthsilk institution API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.services = svc
    install_problem_handlers(app)
    install_allow_handler(app)  # 405: Allow names every method of the path
    install_body_limit_handler(app)
    install_upstream_handlers(app, metrics, lambda data: svc.ledger.decoder.decode(data))
    install_record_handlers(app)
    for module in (health, auth, network, consents, records, erasure, keys, access_log, admin, payments, emergency, alerts, cases, prescriptions, publichealth):
        app.include_router(module.router)
    # Outermost first: the size limit answers before anything reads the body; metrics see every answer.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(LanguageMiddleware)  # outermost: every answer, even a refused body, is in the caller's language

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from api.consent_messages import CANONICAL_TYPES  # lazy, like the other document-only imports
            from api.openapi_rules import consent_domain, state_rules

            app.openapi_schema = state_rules(problems_in_openapi(FastAPI.openapi(app)), CANONICAL_TYPES, consent_domain(svc))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
