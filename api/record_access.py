"""The record service (records/) wired to this app: one ledger, one sender, errors as problems.

Reads go through the service's group-commit access log, which sends its batches with the app's one sender."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.consent_refusals import in_words
from api.problems import ProblemError, problem_response
from i18n import N_, _
from ledger.consent_index import ConsentIndex
from records import (
    AccessDeniedError,
    AnchorRefusedError,
    InvalidResourceError,
    NoKeyError,
    PatientKeyMissingError,
    PayloadMissingError,
    PayloadTamperedError,
    PutIncompleteError,
    RecordErasedError,
    RecordError,
    RecordNotFoundError,
    RecordService,
    RecordSettings,
    ShareRefusedError,
    UnsupportedResourceError,
)
from records.key_release import AuthorUnreachable, KeyReleaseRefused
from records.policy import IndexAccessPolicy

if TYPE_CHECKING:
    from api.services import Services


def open_record_service(svc: "Services") -> RecordService:
    settings = RecordSettings(records_dir=svc.settings.records_dir, ipfs_api=svc.settings.ipfs_api)
    assert svc.settings.records_dir is not None
    index: ConsentIndex = svc.consent_index
    service = RecordService.from_settings(svc.identity, svc.ledger, settings, policy=IndexAccessPolicy(index))
    service.sender = svc.sender  # one sender per key (puts and access-log batches alike): two would race for nonces
    return service


# (status, slug, title) per record-service error; the most specific class is listed first.
_RECORD_PROBLEMS: list[tuple[type[RecordError], int, str, str]] = [
    (InvalidResourceError, 422, "invalid-fhir", N_("Invalid FHIR resource")),
    (UnsupportedResourceError, 422, "unsupported-resource", N_("Unsupported FHIR resource")),
    (ShareRefusedError, 422, "share-refused", N_("Key share refused")),
    (PatientKeyMissingError, 409, "patient-not-registered", N_("Patient has no encryption key")),
    (KeyReleaseRefused, 403, "key-release-refused", N_("Key release refused")),
    (AccessDeniedError, 403, "no-consent", N_("No consent")),
    (AuthorUnreachable, 503, "author-offline", N_("Author institution offline")),
    (NoKeyError, 409, "no-key", N_("Key not shared yet")),
    (RecordNotFoundError, 404, "record-not-found", N_("Record not found")),
    (RecordErasedError, 410, "record-erased", N_("Record erased")),
    (PayloadMissingError, 502, "payload-missing", N_("Payload missing")),
    (PayloadTamperedError, 502, "payload-tampered", N_("Payload does not match its anchor")),
    (AnchorRefusedError, 409, "contract-refused", N_("Refused by the ledger")),
    (PutIncompleteError, 503, "put-incomplete", N_("Upload not completed")),
]


def record_problem(exc: RecordError) -> ProblemError:
    for kind, status, slug, title in _RECORD_PROBLEMS:
        if isinstance(exc, kind):
            headers = {"Retry-After": "5"} if status == 503 else None
            return ProblemError(status, slug, _(title), str(exc), headers=headers)
    return ProblemError(422, "record-refused", _("Record request refused"), str(exc))


def install_record_handlers(app: FastAPI) -> None:
    @app.exception_handler(RecordError)
    async def _record(_request: Request, exc: RecordError) -> JSONResponse:
        problem = record_problem(exc)
        if problem.status >= 500:
            app.state.services.metrics.chain_errors.labels(problem.slug.replace("-", "_")).inc()
        return problem_response(in_words(app.state.services, problem, exc))  # a consent refusal says why, in words
