"""What the emergency, alerts and summary commands share: the institution (staff) client, the BreakGlass domain the
wallet checks signatures against, and the sealed break-glass reason opened with the patient's key."""

from __future__ import annotations

import base64
import os
from typing import Annotated, Any

import typer
from rich.markup import escape

from care.emergency_reason import open_reason
from i18n import _
from wallet.client import ApiClient, resolve_api_url
from wallet.errors import RefusedToSign, WalletError
from wallet.session import PatientSession
from wallet.typed_data import check_deadline, checked_message

TOKEN_ENV = "HEALTHSILK_API_TOKEN"
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help=f"Act as the institution (staff): its API token hs_... Default: ${TOKEN_ENV}.", show_default=False),
]


def staff_token(token: str | None) -> str | None:
    return token or os.environ.get(TOKEN_ENV) or None


def staff_client(api: str | None, token: str) -> ApiClient:
    client = ApiClient(resolve_api_url(api))
    client._http.headers["Authorization"] = f"Bearer {token}"
    return client


def checked(session: PatientSession, typed: Any, primary: str, struct: list[dict[str, str]]) -> dict[str, Any]:
    """The message, after the checks every signature gets, against this network's BreakGlass contract."""
    network = session.network()
    contract = network.contracts.get("BreakGlass")
    if contract is None:
        raise RefusedToSign(_("the API does not name this network's BreakGlass contract"))
    # The shared checker knows no `bool`: check the bool fields here, the rest (types, domain, fields) there.
    flags = [f["name"] for f in struct if f["type"] == "bool"]
    if flags:
        try:
            values = {name: typed["message"][name] for name in flags}
            typed = {**typed, "types": {**typed["types"], primary: [f for f in typed["types"][primary] if f["name"] not in flags]},
                     "message": {k: v for k, v in typed["message"].items() if k not in flags}}
        except (KeyError, TypeError, AttributeError):
            raise RefusedToSign(_("the {struct} message has unexpected fields").format(struct=primary)) from None
        if any(f["type"] != "bool" for f in struct if f["name"] in flags) or not all(isinstance(v, bool) for v in values.values()):
            raise RefusedToSign(_("the {struct} message has unexpected fields").format(struct=primary))
        struct = [f for f in struct if f["name"] not in flags]
    else:
        values = {}
    message = checked_message(typed, primary, struct, network.chain_id, contract, "BreakGlass")
    check_deadline(int(message["deadline"]), None)
    return {**message, **values}


def signing_intro(session: PatientSession, words: str) -> str:
    """The line shown before signing: who signs, and for whom when acting as a delegate (`--for`)."""
    if session.as_delegate:
        return _("[bold]As delegate of patient {patient}, you ({signer}) are about to sign:[/] {words}").format(
            patient=session.patient, signer=session.address, words=escape(words))
    return _("[bold]You are about to sign:[/] {words}").format(words=escape(words))


def require_patients_break_glass(session: PatientSession, break_glass_id: str) -> None:
    """With --for: the break-glass must be on the records of the patient named, not of another one this wallet acts for."""
    view = session.client.request_json("GET", f"/v1/emergency/break-glass/{break_glass_id}")
    if str(view.get("patient", "")).lower() != session.patient.lower():
        raise RefusedToSign(_("break-glass {id} is on the records of patient {patient}, not of {wanted}").format(id=break_glass_id, patient=view.get("patient"), wanted=session.patient))


def reason_for(session: PatientSession, break_glass_id: str, reason_hash: str) -> str:
    """The free-text reason, opened here with the patient's key; plain words when it cannot be."""
    if session.as_delegate:  # sealed to the patient's own key, which a delegate does not hold
        return _("(sealed to the patient's own key: only the patient's wallet opens it)")
    try:
        sealed = session.client.request_json("GET", f"/v1/emergency/break-glass/{break_glass_id}/reason")["sealed"]
        return open_reason(base64.b64decode(sealed), bytes.fromhex(reason_hash[2:]), session.address, session.identity.hpke_key)
    except (WalletError, KeyError, ValueError, TypeError):
        return _("(the reason could not be opened)")
