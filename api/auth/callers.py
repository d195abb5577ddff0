"""Turning a bearer token into a Caller, and the dependencies each route uses to say who may call it.

A route declares its callers with one of:
- `require_scopes("read", ...)`: institution tokens holding any of the scopes;
- `patient_or_scopes("read", ...)`: those, or a patient session — for routes with an `{address}` path
  parameter the patient must be that address (patient self);
- `patient_only()`: patient sessions only (the route checks which data is the patient's own);
- `any_caller()`: any valid token.
Missing or unknown tokens are 401; valid tokens that may not do this are 403.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from eth_utils import is_address, to_checksum_address
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth.store import INSTITUTION_PREFIX, PATIENT_PREFIX, AuthStore
from api.problems import forbidden, unauthorized

institution_scheme = HTTPBearer(
    scheme_name="institutionToken", auto_error=False,
    description="An institution API token `hs_...` (from `healthsilk api token create`); the security requirement lists the scopes any one of which suffices: read, write, relay, audit, admin.",
)
patient_scheme = HTTPBearer(
    scheme_name="patientToken", auto_error=False,
    description="A patient session token `hsp_...` from POST /v1/auth/session: bound to one address, valid 15 minutes, only for that patient's own data.",
)


@dataclass(frozen=True)
class Caller:
    kind: Literal["institution", "patient"]
    name: str
    scopes: frozenset[str] = frozenset()
    address: str | None = None  # patients only

    @property
    def is_patient(self) -> bool:
        return self.kind == "patient"

    def is_self(self, patient: str) -> bool:
        return self.is_patient and self.address is not None and is_address(patient) and to_checksum_address(patient) == self.address

    def require_patient_self(self, patient: str) -> None:
        """For patient callers: 403 unless `patient` is the caller."""
        if self.is_patient and not self.is_self(patient):
            raise forbidden("a patient token only gives access to the patient's own data")


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None:
        raise unauthorized("send `Authorization: Bearer <token>`: an institution token (hs_...) or a patient session token (hsp_...)")
    store: AuthStore = request.app.state.services.auth
    token = credentials.credentials
    if token.startswith(PATIENT_PREFIX):
        session = store.check_session(token, int(time.time()))
        if session is None:
            raise unauthorized("the patient session token is unknown or expired; sign in again with POST /v1/auth/challenge")
        return Caller("patient", session.address, address=session.address)
    if token.startswith(INSTITUTION_PREFIX):
        found = store.check_token(token)
        if found is not None:
            return Caller("institution", found.name, scopes=found.scopes)
    raise unauthorized("the token is not valid for this API")


def _credentials(a: HTTPAuthorizationCredentials | None, b: HTTPAuthorizationCredentials | None) -> HTTPAuthorizationCredentials | None:
    return a or b


def _scopes_text(scopes: tuple[str, ...]) -> str:
    return " or ".join(f"`{scope}`" for scope in scopes)


def any_caller() -> Callable[..., Caller]:
    def dependency(
        request: Request,
        institution: HTTPAuthorizationCredentials | None = Security(institution_scheme),
        patient: HTTPAuthorizationCredentials | None = Security(patient_scheme),
    ) -> Caller:
        return authenticate(request, _credentials(institution, patient))

    return dependency


def require_scopes(*scopes: str) -> Callable[..., Caller]:
    def dependency(request: Request, institution: HTTPAuthorizationCredentials | None = Security(institution_scheme, scopes=list(scopes))) -> Caller:
        caller = authenticate(request, institution)
        if caller.is_patient:
            raise forbidden(f"this route is for institution systems with scope {_scopes_text(scopes)}, not patient sessions")
        if not caller.scopes & set(scopes):
            raise forbidden(f"token {caller.name!r} lacks scope {_scopes_text(scopes)}")
        return caller

    return dependency


def patient_or_scopes(*scopes: str, self_param: str | None = "address") -> Callable[..., Caller]:
    """Institutions with one of `scopes`, or a patient; with `self_param`, only the patient named by that path parameter."""

    def dependency(
        request: Request,
        institution: HTTPAuthorizationCredentials | None = Security(institution_scheme, scopes=list(scopes)),
        patient: HTTPAuthorizationCredentials | None = Security(patient_scheme),
    ) -> Caller:
        caller = authenticate(request, _credentials(institution, patient))
        if caller.is_patient:
            if self_param is not None:
                caller.require_patient_self(str(request.path_params.get(self_param, "")))
            return caller
        if not caller.scopes & set(scopes):
            raise forbidden(f"token {caller.name!r} lacks scope {_scopes_text(scopes)} (or use the patient's own session)")
        return caller

    return dependency


def patient_only(self_param: str | None = None) -> Callable[..., Caller]:
    def dependency(request: Request, patient: HTTPAuthorizationCredentials | None = Security(patient_scheme)) -> Caller:
        caller = authenticate(request, patient)
        if not caller.is_patient:
            raise forbidden("only the patient's own session may do this (sign in with POST /v1/auth/challenge)")
        if self_param is not None:
            caller.require_patient_self(str(request.path_params.get(self_param, "")))
        return caller

    return dependency
