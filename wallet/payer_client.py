"""The payer's side of an institution's API (e-card programmes, cards, claims), with an institution API token.

`healthsilk api token create --scopes read,write` makes the token; the CLI takes it from --token or
$HEALTHSILK_API_TOKEN. Amounts go over the wire in the ledger's minor units; people type and read currency units.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision

from i18n import _
from wallet.client import ApiClient
from wallet.errors import WalletError

TOKEN_ENV = "HEALTHSILK_API_TOKEN"


def resolve_token(option: str | None) -> str:
    token = (option or os.environ.get(TOKEN_ENV, "")).strip()
    if not token:
        raise WalletError(_("No API token given."), _("Give --token or set {variable}; make one with: healthsilk api token create --name payer --scopes read,write").format(variable=TOKEN_ENV))
    return token


def to_minor_units(amount: str, currency: str) -> int:
    """"1200.50" KZT -> 120050; WalletError for an amount that is not a positive number with at most the currency's decimals."""
    precision = get_currency_precision(currency)
    try:
        value = Decimal(amount.replace(",", "").replace("_", "")).scaleb(precision)
    except InvalidOperation:
        raise WalletError(_("{amount} is not an amount.").format(amount=repr(amount)), _("Write it in {currency}, e.g. 1200.50.").format(currency=currency)) from None
    if value <= 0 or value != value.to_integral_value():
        raise WalletError(
            _("{amount} {currency} is not a positive amount with at most {digits} decimals.").format(amount=amount, currency=currency, digits=precision),
            _("Write it in {currency}, e.g. 1200.50.").format(currency=currency),
        )
    return int(value)


class PayerClient(ApiClient):
    """One institution API, one institution token (kept in memory for one command)."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(base_url)
        self._http.headers["Authorization"] = f"Bearer {token}"

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.request_json(method, path, **kwargs)
        if not isinstance(answer, dict):
            raise WalletError(_("The API's answer to {path} is not an object.").format(path=path), _("Check that --api points at a healthsilk API."))
        return answer

    def create_programme(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._object("POST", "/v1/payments/programmes", json=body)

    def programme(self, programme_id: int) -> dict[str, Any]:
        return self._object("GET", f"/v1/payments/programmes/{int(programme_id)}")

    def empanel(self, programme_id: int, provider: str, empanelled: bool) -> dict[str, Any]:
        return self._object("POST", f"/v1/payments/programmes/{int(programme_id)}/providers", json={"provider": provider, "empanelled": empanelled})

    def fund(self, programme_id: int, amount: int) -> dict[str, Any]:
        return self._object("POST", f"/v1/payments/programmes/{int(programme_id)}/escrow", json={"amount": amount})

    def issue_card(self, programme_id: int, patient: str, valid_until: int, annual_limit: int) -> dict[str, Any]:
        body = {"patient": patient, "valid_until": valid_until, "annual_limit": annual_limit}
        return self._object("POST", f"/v1/payments/programmes/{int(programme_id)}/cards", json=body)

    def statement(self, programme_id: int) -> dict[str, Any]:
        return self._object("GET", f"/v1/payments/programmes/{int(programme_id)}/statement")

    def approve_claim(self, claim_id: int, override_confirmation: bool) -> dict[str, Any]:
        return self._object("POST", f"/v1/payments/claims/{int(claim_id)}/approve", json={"override_confirmation": override_confirmation})

    def reject_claim(self, claim_id: int, reason_code: int) -> dict[str, Any]:
        return self._object("POST", f"/v1/payments/claims/{int(claim_id)}/reject", json={"reason_code": reason_code})
