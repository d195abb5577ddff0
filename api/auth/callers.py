"""Turning a bearer token into a Caller, and the dependencies each route uses to say who may call it.

A route declares its callers with one of:
- `require_scopes("read", ...)`: institution tokens holding any of the scopes;
- `patient_or_scopes("read", ...)`: those, or a patient session — for routes with an `{address}` path
  parameter the session must be that patient or the patient's current delegate;
- `patient_only()`: patient sessions only (the route checks which data is the patient's own);
- `any_caller()`: any valid token.
Missing or unknown tokens are 401; valid tokens that may not do this are 403.

A delegate (guardian or carer, ConsentLedger.delegateOf) signs in with its own wallet and acts for the patient:
`Caller.acts_for(patient)` is the one check, asked of the chain on every request (never cached), so a removed
delegate loses access with the next block. Routes that must stay the patient's alone (erasure, key shares made
with the patient's own key) compare `caller.address` to the patient (`is_self`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from eth_utils import is_address, to_checksum_address
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth.store import INSTITUTION_PREFIX, PATIENT_PREFIX, AuthStore
from api.problems import forbidden, unauthorized
from i18n import _

institution_scheme = HTTPBearer(
    scheme_name="institutionToken", auto_error=False,
    description="An institution API token `hs_...` (from `healthsilk api token create`); the security requirement lists the scopes any one of which suffices: read, write, relay, audit, admin.",
)
patient_scheme = HTTPBearer(
    scheme_name="patientToken", auto_error=False,
    description="A patient session token `hsp_...` from POST /v1/auth/session: bound to one address, valid 15 minutes, only for that patient's own data.",
)


DelegateLookup = Callable[[str], "str | None"]


def _no_delegate(_patient: str) -> str | None:
    return None


@dataclass(frozen=True)
class Caller:
    kind: Literal["institution", "patient"]
    name: str
    scopes: frozenset[str] = frozenset()
    address: str | None = None  # patients only
    # ConsentLedger.delegateOf, asked live: a session is bound to one address, but that address may be the
    # current delegate of other patients, and that can change at any block.
    delegate_of: DelegateLookup = field(default=_no_delegate, compare=False, repr=False)

    @property
    def is_patient(self) -> bool:
        return self.kind == "patient"

    def is_self(self, patient: str) -> bool:
        """The session is the patient themself (not a delegate)."""
        return self.is_patient and self.address is not None and is_address(patient) and to_checksum_address(patient) == self.address

    def is_delegate_of(self, patient: str) -> bool:
        """The session is the patient's current delegate on chain (read now, never cached)."""
        if not self.is_patient or self.address is None or not is_address(patient):
            return False
        delegate = self.delegate_of(to_checksum_address(patient))
        return bool(delegate) and to_checksum_address(str(delegate)) == self.address

    def acts_for(self, patient: str) -> bool:
        """The session may act for `patient`: it is the patient, or the patient's current delegate."""
        return self.is_self(patient) or self.is_delegate_of(patient)

    def require_patient_self(self, patient: str) -> None:
        """For patient callers: 403 unless the caller is `patient` or `patient`'s current delegate."""
        if self.is_patient and not self.acts_for(patient):
            raise forbidden(_("a patient token only gives access to the patient's own data, or to that of the patient it is the current delegate of"))


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None:
        raise unauthorized(_("send `Authorization: Bearer <token>`: an institution token (hs_...) or a patient session token (hsp_...)"))
    services = request.app.state.services
    store: AuthStore = services.auth
    token = credentials.credentials
    if token.startswith(PATIENT_PREFIX):
        session = store.check_session(token, int(time.time()))
        if session is None:
            raise unauthorized(_("the patient session token is unknown or expired; sign in again with POST /v1/auth/challenge"))
        # Bound lazily: the chain is only asked when the session reaches for another patient's data.
        return Caller("patient", session.address, address=session.address, delegate_of=lambda patient: services.consents.delegate_of(patient))
    if token.startswith(INSTITUTION_PREFIX):
        found = store.check_token(token)
        if found is not None:
            return Caller("institution", found.name, scopes=found.scopes)
    raise unauthorized(_("the token is not valid for this API"))


def _credentials(a: HTTPAuthorizationCredentials | None, b: HTTPAuthorizationCredentials | None) -> HTTPAuthorizationCredentials | None:
    return a or b


def _scopes_text(scopes: tuple[str, ...]) -> str:
    return _(" or ").join(f"`{scope}`" for scope in scopes)


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
            raise forbidden(_("this route is for institution systems with scope {scopes}, not patient sessions").format(scopes=_scopes_text(scopes)))
        if not caller.scopes & set(scopes):
            raise forbidden(_("token {token} lacks scope {scopes}").format(token=repr(caller.name), scopes=_scopes_text(scopes)))
        return caller

    return dependency


def patient_or_scopes(*scopes: str, self_param: str | None = "address") -> Callable[..., Caller]:
    """Institutions with one of `scopes`, or a patient; with `self_param`, only the patient named by that path parameter
    or that patient's current delegate."""

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
            raise forbidden(_("token {token} lacks scope {scopes} (or use the patient's own session)").format(token=repr(caller.name), scopes=_scopes_text(scopes)))
        return caller

    return dependency


def patient_only(self_param: str | None = None) -> Callable[..., Caller]:
    def dependency(request: Request, patient: HTTPAuthorizationCredentials | None = Security(patient_scheme)) -> Caller:
        caller = authenticate(request, patient)
        if not caller.is_patient:
            raise forbidden(_("only the patient's own session may do this (sign in with POST /v1/auth/challenge)"))
        if self_param is not None:
            caller.require_patient_self(str(request.path_params.get(self_param, "")))
        return caller

    return dependency
