"""`healthsilk prescriptions ...` (patients) and `healthsilk rx ...` (institutions' staff, with an API token).

Patients see each prescription's state (used / left, where, when) and present one to a pharmacy: the wallet checks
the PresentPrescription it is asked to sign (this chain, the Prescriptions contract, this prescription, that
pharmacy), shows it in plain words, signs it locally, and has the institution relay it. Presenting also gives the
pharmacy a consent for DISPENSE records from now on, so it can record the dispense in the patient's file and claim
it on the e-card; a consent that already covers that is left alone.

With `--for PATIENT` a delegate (guardian or carer) lists, shows and presents the patient's prescriptions, signing
with its own wallet (Prescriptions accepts the patient's or the current delegate's signature); the plain words say so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from eth_utils import to_checksum_address
from rich.markup import escape
from rich.table import Table

from i18n import _
from wallet import render
from wallet.client import ApiClient, resolve_api_url
from wallet.errors import RefusedToSign, WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession
from wallet.typed_data import Expected, checked_message, sign_typed_data

TOKEN_ENV = "HEALTHSILK_API_TOKEN"
PRESENT_STRUCT = [
    {"name": "prescriptionId", "type": "bytes32"},
    {"name": "pharmacy", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
CLAIM_DAYS = 90  # the pharmacy's consent outlives the prescription by this much, so it can still claim
DISPENSE, TREATMENT, PAYMENT = "DISPENSE", "TREATMENT", "PAYMENT"

app = typer.Typer(help="Your e-prescriptions: see what is left, and present one to a pharmacy.", no_args_is_help=True)
rx_app = typer.Typer(help="E-prescriptions for institutions' staff (prescribers and pharmacies), with an API token.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="The prescription id (0x + 64 hex digits).", show_default=False)]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help=f"The institution's API token. Default: ${TOKEN_ENV}.", show_default=False)]


def _pid(text: str) -> str:
    value = text.strip().lower()
    if not (value.startswith("0x") and len(value) == 66 and all(c in "0123456789abcdef" for c in value[2:])):
        raise WalletError(_("{text} is not a prescription id.").format(text=repr(text)), _("A prescription id is 0x followed by 64 hex digits; see: healthsilk prescriptions list"))
    return value


def _where(view: dict[str, Any]) -> str:
    dispenses = view.get("dispenses") or []
    return "; ".join(f"{d.get('pharmacy_name') or d.get('pharmacy')} ({render.when(d.get('time'))})" for d in dispenses) or "—"


# --- patients ---------------------------------------------------------------------------------------------------
@app.command("list")
@friendly
def list_(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """Your prescriptions: dispenses used and left, where and when."""
    with PatientSession(api, wallet, for_) as session:
        views = session.client.request_json("GET", "/v1/prescriptions", params={"patient": session.patient})
    if json_output:
        render.emit_json(views)
        return
    if not views:
        render.out.print(_("Patient {patient} has no prescriptions.").format(patient=session.patient) if session.as_delegate else _("You have no prescriptions."))
        return
    title = _("Prescriptions of patient {patient}").format(patient=session.patient) if session.as_delegate else _("Your prescriptions")
    table = Table(title=title, title_justify="left")
    for column in (_("prescription"), _("prescriber"), _("used"), _("left"), _("valid until"), _("dispensed at"), _("state")):
        table.add_column(column, overflow="fold")
    for view in views:
        s = view["state"]
        table.add_row(
            render.short(s["prescription_id"], 14), escape(render.who(s.get("prescriber_name"), s.get("prescriber"))), str(s["dispensed"]),
            str(s["remaining"]), render.when(s["valid_until"]), escape(_where(view)), _("cancelled") if s["cancelled"] else escape(s["scope_words"]),
        )
    render.out.print(table)


@app.command()
@friendly
def show(prescription_id: IdArg, api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """One prescription in full: where it may be dispensed, every dispense, who it was presented to."""
    pid = _pid(prescription_id)
    with PatientSession(api, wallet, for_) as session:
        view = session.client.request_json("GET", f"/v1/prescriptions/{pid}")
        if session.as_delegate and to_checksum_address(view["state"]["patient"]) != session.patient:
            raise WalletError(_("Prescription {id} is not one of patient {patient}.").format(id=pid, patient=session.patient), _("Check the id: see healthsilk prescriptions list --for {patient}").format(patient=session.patient))
    if json_output:
        render.emit_json(view)
        return
    s = view["state"]
    pairs = [
        (_("prescriber"), render.who(s.get("prescriber_name"), s.get("prescriber"))),
        (_("state"), s["words"]),
        (_("where"), s["scope_words"]),
        (_("presented to"), ", ".join(str(p.get("pharmacy_name") or p.get("pharmacy")) for p in view.get("presented_to", [])) or "—"),
    ]
    pairs += [(_("dispense {number}").format(number=d["number"]), f"{d.get('pharmacy_name') or d['pharmacy']}, {render.when(d['time'])}") for d in view.get("dispenses", [])]
    render.key_value(_("Prescription {id}").format(id=render.short(s["prescription_id"], 14)), pairs)


def _check_presentation(typed: Any, network: dict[str, Any], prescription_id: str, pharmacy: str, signer: str) -> dict[str, Any]:
    try:
        chain_id = int(network["chain_id"])
        contract = to_checksum_address(network["contracts"]["Prescriptions"])  # as the API lists it, never the message's
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RefusedToSign(_("the API's /v1/network answer does not name this network's Prescriptions contract")) from None
    message = checked_message(typed, "PresentPrescription", PRESENT_STRUCT, chain_id, contract, "Prescriptions")
    if typed["domain"].get("name") != "healthsilk Prescriptions":
        raise RefusedToSign(_("the message is not for the Prescriptions contract"))
    if "0x" + bytes(message["prescriptionId"]).hex() != prescription_id:
        raise RefusedToSign(_("the message names another prescription"))
    if to_checksum_address(message["pharmacy"]) != to_checksum_address(pharmacy):
        raise RefusedToSign(_("the message names another pharmacy than the one you chose"))
    return message


def _grant_dispense_consent(session: PatientSession, pharmacy: dict[str, Any], valid_until: int, yes: bool) -> bool:
    """Give the pharmacy DISPENSE (TREATMENT, PAYMENT) from now on, merged into any consent it already holds."""
    grantee = to_checksum_address(pharmacy["address"])
    active = [c for c in session.client.consents(session.patient) if str(c.get("grantee", "")).lower() == grantee.lower() and c.get("status") == "ACTIVE"]
    now = session.network().chain_time
    current = active[0] if active else None
    if current and DISPENSE in current["categories"] and TREATMENT in current["purposes"] and PAYMENT in current["purposes"] and current["valid_until"] >= valid_until:
        return False
    categories = sorted(set(current["categories"] if current else []) | {DISPENSE})
    purposes = sorted(set(current["purposes"] if current else []) | {TREATMENT, PAYMENT})
    data_from = int(current["data_from"]) if current else now - 300
    until = max(valid_until, int(current["valid_until"]) if current else 0)
    body = {"action": "grant", "patient": session.patient, "grantee": grantee, "categories": categories, "purposes": purposes,
            "valid_from": now - 300, "valid_until": until, "data_from": data_from, "data_until": int(current["data_until"]) if current else 0}
    session.sign_and_send(body, Expected("GrantConsent", session.patient, {"grantee": grantee, "validUntil": until}), yes=yes)
    return True


@app.command()
@friendly
def present(
    prescription_id: IdArg,
    to: Annotated[str, typer.Option("--to", help="The pharmacy: name (or a unique part) or address.", show_default=False)],
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    for_: ForOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Present a prescription to a pharmacy: it may then read that prescription (nothing else of yours) and dispense it."""
    pid = _pid(prescription_id)
    with PatientSession(api, wallet, for_) as session:
        pharmacy = session.resolve_member(to)
        if "PHARMACY" not in [str(r).upper() for r in pharmacy.get("roles", [])]:
            raise WalletError(_("{name} is not a pharmacy.").format(name=pharmacy.get("name")), _("Choose a member with the PHARMACY role."))
        client = session.client
        view = client.request_json("GET", f"/v1/prescriptions/{pid}")
        state = view["state"]
        if to_checksum_address(state["patient"]) != session.patient:
            raise RefusedToSign(_("prescription {id} is for patient {patient}, not {wanted}").format(id=pid, patient=state["patient"], wanted=session.patient))
        prepared = client.request_json("POST", f"/v1/prescriptions/{pid}/presentation/prepare", json={"pharmacy": pharmacy["address"], "signer": session.address})
        typed = prepared["typed_data"]
        message = _check_presentation(typed, client.network(), pid, pharmacy["address"], session.address)
        if session.as_delegate:
            render.info(_("[bold]As delegate of patient {patient}, you ({signer}) are about to present the patient's prescription[/]:").format(patient=session.patient, signer=session.address))
        else:
            render.info(_("[bold]You are about to present a prescription[/]:"))
        for line in (
            _("prescription {id} from {prescriber}: {state}").format(id=render.short(pid, 14), prescriber=state.get("prescriber_name") or state["prescriber"], state=state["words"]),
            _("to {pharmacy} ({address}); it may read this prescription and dispense it").format(pharmacy=pharmacy.get("name"), address=pharmacy["address"]),
            _("signature valid until {time}, nonce {nonce}").format(time=render.when(message["deadline"]), nonce=message["nonce"]),
        ):
            render.info(f"  • {escape(line)}")
        if not yes:
            try:
                agreed = bool(typer.confirm(_("Sign and present?"), default=False, err=True))
            except typer.Abort:
                agreed = False
            if not agreed:
                raise WalletError(_("Not presented: you declined."), _("Nothing was signed or sent."))
        signature = sign_typed_data(session.identity.account, typed)
        result = client.request_json("POST", f"/v1/prescriptions/{pid}/presentation", json={"typed_data": typed, "signature": signature})
        granted = _grant_dispense_consent(session, pharmacy, int(state["valid_until"]) + CLAIM_DAYS * 86400, yes=True)
    if json_output:
        render.emit_json({**result, "dispense_consent_granted": granted})
        return
    if session.as_delegate:
        render.out.print(_("As delegate of patient {patient}: prescription presented to {pharmacy}; {left} dispenses left.").format(
            patient=session.patient, pharmacy=escape(str(pharmacy.get("name"))), left=state["remaining"]))
        return
    render.out.print(_("Prescription presented to {pharmacy}; {left} dispenses left.").format(pharmacy=escape(str(pharmacy.get("name"))), left=state["remaining"]))


# --- staff --------------------------------------------------------------------------------------------------------
def _staff(api: str | None, token: str | None) -> ApiClient:
    token = token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise WalletError(_("No API token."), _("Give --token or set {variable} to a token of your institution's API.").format(variable=TOKEN_ENV))
    client = ApiClient(resolve_api_url(api))
    client._http.headers["Authorization"] = f"Bearer {token}"
    return client


def _load_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WalletError(_("Cannot read {path}: {error}.").format(path=path, error=exc), _("Give a FHIR resource as a JSON file.")) from None
    if not isinstance(value, dict):
        raise WalletError(_("{path} holds no FHIR resource.").format(path=path), _("Give a FHIR resource as a JSON file."))
    return value


@rx_app.command()
@friendly
def issue(
    patient: Annotated[str, typer.Option("--patient", help="The patient's address.", show_default=False)],
    request: Annotated[Path, typer.Option("--request", help="The FHIR MedicationRequest (JSON file).", show_default=False)],
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Valid for this many days from now.")] = 30,
    repeats: Annotated[int, typer.Option("--repeats", min=0, max=254, help="Repeats allowed after the first dispense.")] = 0,
    interval_days: Annotated[int, typer.Option("--interval-days", min=0, max=3650, help="Days between dispenses.")] = 0,
    country: Annotated[Optional[str], typer.Option("--country", help="Only pharmacies of this country (ISO 3166 alpha-2).", show_default=False)] = None,
    pharmacy: Annotated[Optional[str], typer.Option("--pharmacy", help="Only this pharmacy (address).", show_default=False)] = None,
    single: Annotated[bool, typer.Option("--single-dispense", help="Controlled medicine: exactly one dispense.")] = False,
    print_token: Annotated[bool, typer.Option("--print-token", help="Print a one-time QR token for a patient without a phone.")] = False,
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Prescribe: the MedicationRequest becomes an encrypted record, the prescription goes on the ledger."""
    scope = "NAMED_PHARMACY" if pharmacy else "COUNTRY" if country else "ANY_PHARMACY"
    body: dict[str, Any] = {"patient": patient, "medication_request": _load_json(request),
                            "repeats": repeats, "min_interval_seconds": interval_days * 86400, "scope": scope, "single_dispense": single, "print_token": print_token}
    if country:
        body["country"] = country.upper()
    if pharmacy:
        body["pharmacy"] = pharmacy
    with _staff(api, token) as client:
        body["valid_until"] = int(client.network()["chain_time"]) + days * 86400
        issued = client.request_json("POST", "/v1/prescriptions", json=body)
    if json_output:
        render.emit_json(issued)
        return
    s = issued["state"]
    render.out.print(_("Prescription {id} issued: {words}.").format(id=s["prescription_id"], words=s["words"]))
    if issued.get("token"):
        from care.prescriptions_token import qr_text  # segno, only when a token is printed

        render.out.print(qr_text(issued["token"]))
        render.out.print(_("Token (works once): {token}").format(token=issued["token"]))


@rx_app.command()
@friendly
def cancel(prescription_id: IdArg, api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """Cancel a prescription you issued: no further dispense."""
    with _staff(api, token) as client:
        state = client.request_json("POST", f"/v1/prescriptions/{_pid(prescription_id)}/cancel")
    render.emit_json(state) if json_output else render.out.print(_("Prescription cancelled: {words}.").format(words=state["words"]))


@rx_app.command()
@friendly
def verify(prescription_id: IdArg, api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """May this pharmacy dispense the prescription now?"""
    with _staff(api, token) as client:
        found = client.request_json("GET", f"/v1/prescriptions/{_pid(prescription_id)}/verify")
    if json_output:
        render.emit_json(found)
        return
    render.out.print((_("Yes: {words}.") if found["may_dispense"] else _("No: {words}.")).format(words=found["words"]))


@rx_app.command()
@friendly
def dispense(
    prescription_id: IdArg,
    record: Annotated[Path, typer.Option("--record", help="The FHIR MedicationDispense (JSON file).", show_default=False)],
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Dispense: the MedicationDispense becomes the patient's record, the ledger counts the dispense."""
    with _staff(api, token) as client:
        done = client.request_json("POST", f"/v1/prescriptions/{_pid(prescription_id)}/dispenses", json={"medication_dispense": _load_json(record)})
    if json_output:
        render.emit_json(done)
        return
    d = done["dispense"]
    render.out.print(_("Dispense {number} of {allowed} recorded (record {record}); {left} left.").format(number=d["number"], allowed=d["dispenses_allowed"], record=d["record_id"], left=done["state"]["remaining"]))


@rx_app.command("token")
@friendly
def present_token(text: Annotated[str, typer.Argument(help="The printed token's text (HSRX1:...).", show_default=False)], api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """As a pharmacy, present a patient's printed token (it works once)."""
    with _staff(api, token) as client:
        done = client.request_json("POST", "/v1/prescriptions/tokens", json={"token": text})
    render.emit_json(done) if json_output else render.out.print(_("Token accepted: the prescription is presented to this pharmacy."))
