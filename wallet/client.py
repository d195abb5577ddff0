"""HTTP client of an institution's healthsilk API (see the API contract), as the patient sees it."""

from __future__ import annotations

import os
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from i18n import N_, _, content_language
from wallet.errors import ApiError, WalletError
from wallet.typed_data import check_challenge, sign_challenge

API_ENV = "HEALTHSILK_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8701"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_SEALED_BYTES = 64 * 1024 * 1024

CHECK_API = N_("Check that --api points at a healthsilk API.")
_HINTS = {
    400: N_("Check the values you gave on the command line."),
    401: N_("Your session was refused or has expired; run the command again to log in afresh."),
    403: N_("This institution's API does not let a patient do that."),
    404: N_("Check the id or address; the API does not know it."),
    409: N_("Nothing was changed. The ledger's current state does not allow it; check it (e.g. healthsilk consent list) and retry if still needed."),
    422: N_("The ledger or the API rejected the values; check them and retry."),
    429: N_("The API is rate-limiting; wait a little and retry."),
}


def resolve_api_url(option: str | None) -> str:
    url = (option or os.environ.get(API_ENV, "") or DEFAULT_API_URL).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise WalletError(_("{url} is not an API address.").format(url=repr(url)), _("Give --api / {variable} as e.g. {example}.").format(variable=API_ENV, example=DEFAULT_API_URL))
    return url


def _problem(response: httpx.Response) -> ApiError:
    title, detail, kind = response.reason_phrase or _("error"), "", ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = str(body.get("detail") or "")
        kind = str(body.get("type") or "")
        issues = body.get("errors")
        if isinstance(issues, list) and issues:  # validation problems list each bad field
            detail = "; ".join(f"{i.get('location', '?')}: {i.get('message', '?')}" for i in issues if isinstance(i, dict)) or detail
    hint = _(_HINTS[response.status_code]) if response.status_code in _HINTS else None
    if response.status_code >= 500:
        hint = _("The institution's API or the ledger behind it failed; try again later, and tell the institution if it persists.")
    return ApiError(response.status_code, title, detail, kind, hint)


def _rows(body: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
        raise WalletError(_("The API's answer to {path} is not a list of entries.").format(path=path), _(CHECK_API))
    return body


class ApiClient:
    """One API, one patient session (the token lives in memory only, for one command)."""

    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url
        # The API answers (problem details, card histories, summaries) in the wallet's language.
        headers = {"Accept": "application/json", "Accept-Language": content_language()}
        self._http = httpx.Client(base_url=base_url, timeout=TIMEOUT, transport=transport, headers=headers)
        self.address: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise WalletError(
                _("Cannot reach the healthsilk API at {url}.").format(url=self.base_url),
                _("Check that the institution's API is running and that --api / {variable} points at it.").format(variable=API_ENV),
            ) from None
        except httpx.TimeoutException:
            raise WalletError(_("The API at {url} did not answer in time.").format(url=self.base_url), _("Try again in a moment.")) from None
        except httpx.HTTPError as exc:
            raise WalletError(_("Talking to the API at {url} failed: {error}.").format(url=self.base_url, error=exc), _("Check the address and try again.")) from None
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON answer; problems become ApiError/WalletError (flow commands use it too)."""
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise WalletError(_("The API answered {path} with something that is not JSON.").format(path=path), _(CHECK_API)) from None

    # -- auth ------------------------------------------------------------------------------
    def login(self, account: LocalAccount) -> None:
        """Challenge -> personal_sign -> short-lived patient token (kept only in this object)."""
        address = str(account.address)
        challenge = self.request_json("POST", "/v1/auth/challenge", json={"address": address})
        text = check_challenge(challenge.get("challenge") if isinstance(challenge, dict) else None, address)
        session = self.request_json("POST", "/v1/auth/session", json={"address": address, "challenge": text, "signature": sign_challenge(account, text)})
        token = session.get("token") if isinstance(session, dict) else None
        if not isinstance(token, str) or not token:
            raise WalletError(_("The API did not return a session token."), _(CHECK_API))
        self._http.headers["Authorization"] = f"Bearer {token}"
        self.address = address

    # -- reads -----------------------------------------------------------------------------
    def network(self) -> Any:
        return self.request_json("GET", "/v1/network")

    def members(self) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", "/v1/members"), "/v1/members")

    def consents(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", f"/v1/patients/{patient}/consents"), "/v1/patients/{patient}/consents")

    def records(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", f"/v1/patients/{patient}/records"), "/v1/patients/{patient}/records")

    def patient(self, patient: str) -> Any | None:
        """`GET /v1/patients/{address}` if this API offers it (not in the v1 contract); None when it does not."""
        try:
            return self.request_json("GET", f"/v1/patients/{patient}")
        except ApiError as exc:
            if exc.status in (404, 405):
                return None
            raise

    def sealed(self, record_id: str) -> bytes:
        response = self._send("GET", f"/v1/records/{record_id}/sealed", headers={"Accept": "application/octet-stream"})
        if len(response.content) > MAX_SEALED_BYTES:
            raise WalletError(_("The sealed record is implausibly large."), _("Tell the institution."))
        return response.content

    def access_log(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", f"/v1/patients/{patient}/access-log"), "/v1/patients/{patient}/access-log")

    # -- signed actions --------------------------------------------------------------------
    def prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.request_json("POST", "/v1/consents/prepare", json=body)
        if not isinstance(answer, dict) or "typed_data" not in answer:
            raise WalletError(_("The API's answer to /v1/consents/prepare has no typed data."), _(CHECK_API))
        return answer

    def relay(self, typed_data: dict[str, Any], signature: str) -> dict[str, Any]:
        return dict(self.request_json("POST", "/v1/consents/relay", json={"typed_data": typed_data, "signature": signature}))

    # -- erasure ---------------------------------------------------------------------------
    def prepare_erasure(self, record_id: str) -> dict[str, Any]:
        answer = self.request_json("POST", f"/v1/records/{record_id}/erasure/prepare")
        if not isinstance(answer, dict) or "typed_data" not in answer:
            raise WalletError(_("The API's answer to the erasure request has no typed data."), _(CHECK_API))
        return answer

    def relay_erasure(self, record_id: str, typed_data: dict[str, Any], signature: str) -> dict[str, Any]:
        return dict(self.request_json("POST", f"/v1/records/{record_id}/erasure", json={"typed_data": typed_data, "signature": signature}))

    # -- e-card payments -------------------------------------------------------------------
    def cards(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", f"/v1/patients/{patient}/cards"), "/v1/patients/{patient}/cards")

    def card_history(self, card_id: int) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", f"/v1/payments/cards/{int(card_id)}/history"), "/v1/payments/cards/{card_id}/history")

    def claims(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self.request_json("GET", f"/v1/patients/{patient}/claims"), "/v1/patients/{patient}/claims")

    def claim(self, claim_id: int) -> dict[str, Any]:
        answer = self.request_json("GET", f"/v1/payments/claims/{int(claim_id)}")
        if not isinstance(answer, dict):
            raise WalletError(_("The API's answer about the claim is not an object."), _(CHECK_API))
        return answer

    def prepare_confirmation(self, claim_id: int) -> dict[str, Any]:
        answer = self.request_json("POST", f"/v1/payments/claims/{int(claim_id)}/confirmation/prepare")
        if not isinstance(answer, dict) or "typed_data" not in answer:
            raise WalletError(_("The API's answer to the confirmation request has no typed data."), _(CHECK_API))
        return answer

    def relay_confirmation(self, claim_id: int, typed_data: dict[str, Any], signature: str) -> dict[str, Any]:
        return dict(self.request_json("POST", f"/v1/payments/claims/{int(claim_id)}/confirmation", json={"typed_data": typed_data, "signature": signature}))

    def post_key_shares(self, grantee: str, wraps: dict[str, str]) -> dict[str, Any]:
        return dict(self.request_json("POST", "/v1/keys/shares", json={"grantee": grantee, "wraps": wraps}))

    # -- acting as a patient's delegate -------------------------------------------------------
    def delegate_of(self, patient: str) -> str | None:
        """The patient's current delegate (the API refuses anyone but the patient and that delegate: 403)."""
        answer = self.request_json("GET", f"/v1/patients/{patient}/delegate")
        if not isinstance(answer, dict):
            raise WalletError(_("The API's answer about the patient's delegate is not an object."), _(CHECK_API))
        delegate = answer.get("delegate")
        return str(delegate) if delegate else None

    def delegate_keys(self, record_ids: list[str]) -> dict[str, Any]:
        """Keys of the patient's records this institution holds, re-wrapped to this (delegate) wallet's registered key."""
        answer = self.request_json("POST", "/v1/keys/delegate", json={"record_ids": record_ids})
        if not isinstance(answer, dict) or not isinstance(answer.get("wraps"), list):
            raise WalletError(_("The API's answer to the key request has no key wraps."), _(CHECK_API))
        return answer
