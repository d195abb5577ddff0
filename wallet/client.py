"""HTTP client of an institution's healthsilk API (see the API contract), as the patient sees it."""

from __future__ import annotations

import os
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from wallet.errors import ApiError, WalletError
from wallet.typed_data import check_challenge, sign_challenge

API_ENV = "HEALTHSILK_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8701"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_SEALED_BYTES = 64 * 1024 * 1024

_HINTS = {
    400: "Check the values you gave on the command line.",
    401: "Your session was refused or has expired; run the command again to log in afresh.",
    403: "This institution's API does not let a patient do that.",
    404: "Check the id or address; the API does not know it.",
    409: "Nothing was changed. The ledger's current state does not allow it; check it (e.g. healthsilk consent list) and retry if still needed.",
    422: "The ledger or the API rejected the values; check them and retry.",
    429: "The API is rate-limiting; wait a little and retry.",
}


def resolve_api_url(option: str | None) -> str:
    url = (option or os.environ.get(API_ENV, "") or DEFAULT_API_URL).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise WalletError(f"{url!r} is not an API address.", f"Give --api / {API_ENV} as e.g. {DEFAULT_API_URL}.")
    return url


def _problem(response: httpx.Response) -> ApiError:
    title, detail, kind = response.reason_phrase or "error", "", ""
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
    hint = _HINTS.get(response.status_code)
    if response.status_code >= 500:
        hint = "The institution's API or the ledger behind it failed; try again later, and tell the institution if it persists."
    return ApiError(response.status_code, title, detail, kind, hint)


def _rows(body: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
        raise WalletError(f"The API's answer to {path} is not a list of entries.", "Check that --api points at a healthsilk API.")
    return body


class ApiClient:
    """One API, one patient session (the token lives in memory only, for one command)."""

    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=TIMEOUT, transport=transport, headers={"Accept": "application/json"})
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
                f"Cannot reach the healthsilk API at {self.base_url}.",
                f"Check that the institution's API is running and that --api / {API_ENV} points at it.",
            ) from None
        except httpx.TimeoutException:
            raise WalletError(f"The API at {self.base_url} did not answer in time.", "Try again in a moment.") from None
        except httpx.HTTPError as exc:
            raise WalletError(f"Talking to the API at {self.base_url} failed: {exc}.", "Check the address and try again.") from None
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise WalletError(f"The API answered {path} with something that is not JSON.", "Check that --api points at a healthsilk API.") from None

    # -- auth ------------------------------------------------------------------------------
    def login(self, account: LocalAccount) -> None:
        """Challenge -> personal_sign -> short-lived patient token (kept only in this object)."""
        address = str(account.address)
        challenge = self._json("POST", "/v1/auth/challenge", json={"address": address})
        text = check_challenge(challenge.get("challenge") if isinstance(challenge, dict) else None, address)
        session = self._json("POST", "/v1/auth/session", json={"address": address, "challenge": text, "signature": sign_challenge(account, text)})
        token = session.get("token") if isinstance(session, dict) else None
        if not isinstance(token, str) or not token:
            raise WalletError("The API did not return a session token.", "Check that --api points at a healthsilk API.")
        self._http.headers["Authorization"] = f"Bearer {token}"
        self.address = address

    # -- reads -----------------------------------------------------------------------------
    def network(self) -> Any:
        return self._json("GET", "/v1/network")

    def members(self) -> list[dict[str, Any]]:
        return _rows(self._json("GET", "/v1/members"), "/v1/members")

    def consents(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self._json("GET", f"/v1/patients/{patient}/consents"), "/v1/patients/{patient}/consents")

    def records(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self._json("GET", f"/v1/patients/{patient}/records"), "/v1/patients/{patient}/records")

    def patient(self, patient: str) -> Any | None:
        """`GET /v1/patients/{address}` if this API offers it (not in the v1 contract); None when it does not."""
        try:
            return self._json("GET", f"/v1/patients/{patient}")
        except ApiError as exc:
            if exc.status in (404, 405):
                return None
            raise

    def sealed(self, record_id: str) -> bytes:
        response = self._send("GET", f"/v1/records/{record_id}/sealed", headers={"Accept": "application/octet-stream"})
        if len(response.content) > MAX_SEALED_BYTES:
            raise WalletError("The sealed record is implausibly large.", "Tell the institution.")
        return response.content

    def access_log(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self._json("GET", f"/v1/patients/{patient}/access-log"), "/v1/patients/{patient}/access-log")

    # -- signed actions --------------------------------------------------------------------
    def prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._json("POST", "/v1/consents/prepare", json=body)
        if not isinstance(answer, dict) or "typed_data" not in answer:
            raise WalletError("The API's answer to /v1/consents/prepare has no typed data.", "Check that --api points at a healthsilk API.")
        return answer

    def relay(self, typed_data: dict[str, Any], signature: str) -> dict[str, Any]:
        return dict(self._json("POST", "/v1/consents/relay", json={"typed_data": typed_data, "signature": signature}))

    # -- erasure ---------------------------------------------------------------------------
    def prepare_erasure(self, record_id: str) -> dict[str, Any]:
        answer = self._json("POST", f"/v1/records/{record_id}/erasure/prepare")
        if not isinstance(answer, dict) or "typed_data" not in answer:
            raise WalletError("The API's answer to the erasure request has no typed data.", "Check that --api points at a healthsilk API.")
        return answer

    def relay_erasure(self, record_id: str, typed_data: dict[str, Any], signature: str) -> dict[str, Any]:
        return dict(self._json("POST", f"/v1/records/{record_id}/erasure", json={"typed_data": typed_data, "signature": signature}))

    # -- e-card payments -------------------------------------------------------------------
    def cards(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self._json("GET", f"/v1/patients/{patient}/cards"), "/v1/patients/{patient}/cards")

    def card_history(self, card_id: int) -> list[dict[str, Any]]:
        return _rows(self._json("GET", f"/v1/payments/cards/{int(card_id)}/history"), "/v1/payments/cards/{card_id}/history")

    def claims(self, patient: str) -> list[dict[str, Any]]:
        return _rows(self._json("GET", f"/v1/patients/{patient}/claims"), "/v1/patients/{patient}/claims")

    def claim(self, claim_id: int) -> dict[str, Any]:
        answer = self._json("GET", f"/v1/payments/claims/{int(claim_id)}")
        if not isinstance(answer, dict):
            raise WalletError("The API's answer about the claim is not an object.", "Check that --api points at a healthsilk API.")
        return answer

    def prepare_confirmation(self, claim_id: int) -> dict[str, Any]:
        answer = self._json("POST", f"/v1/payments/claims/{int(claim_id)}/confirmation/prepare")
        if not isinstance(answer, dict) or "typed_data" not in answer:
            raise WalletError("The API's answer to the confirmation request has no typed data.", "Check that --api points at a healthsilk API.")
        return answer

    def relay_confirmation(self, claim_id: int, typed_data: dict[str, Any], signature: str) -> dict[str, Any]:
        return dict(self._json("POST", f"/v1/payments/claims/{int(claim_id)}/confirmation", json={"typed_data": typed_data, "signature": signature}))

    def post_key_shares(self, grantee: str, wraps: dict[str, str]) -> dict[str, Any]:
        return dict(self._json("POST", "/v1/keys/shares", json={"grantee": grantee, "wraps": wraps}))
