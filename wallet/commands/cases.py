"""`healthsilk case ...`: referral cases. Institution staff (with an API token) open, list, show, accept, decline,
answer, read and close; the patient lists, shows, approves or refuses from the wallet.

Before the patient signs, the wallet checks what it is shown against the case id itself: the id commits to the
requester, the request, the attached records, the consultants and the priority, so a case view that does not hash
to the id is refused. The plain words are built by the wallet from that checked view.

With `--for PATIENT` a delegate (guardian or carer) lists, shows, approves and refuses the patient's cases, signing
with its own wallet (ReferralCases accepts the patient's or the current delegate's signature); the plain words say
so. It cannot pass on keys of records other members wrote (only the patient's wallet holds them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from eth_utils import to_checksum_address

from care.cases_fhir import communication, service_request
from care.cases_views import CaseView, approval_summary, refusal_summary
from crypto import CryptoError, HpkePublicKey, rewrap
from i18n import _
from i18n.vocabulary import (
    case_state_display,
    category_display,
    consultant_status_display,
    decline_reason_display,
    priority_display,
)
from ledger.cases import (
    APPROVE_CASE_TYPES,
    MAX_CONSENT_SECONDS,
    REFUSE_CASE_TYPES,
    Priority,
    case_id_of,
)
from ledger.vocabulary import Category, category_names
from wallet import render
from wallet.client import ApiClient, resolve_api_url
from wallet.errors import RefusedToSign, WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession, _confirm
from wallet.sharing import grantee_api, open_sealed
from wallet.typed_data import (
    MAX_DEADLINE_SECONDS,
    Expected,
    checked_message,
    sign_typed_data,
)

TOKEN_ENV = "HEALTHSILK_API_TOKEN"
CONTRACT_NAME = "ReferralCases"

app = typer.Typer(help="Referral cases: institutions ask other members for a consultation on a patient's records; the patient approves.", no_args_is_help=True)

TokenOpt = Annotated[Optional[str], typer.Option("--token", help=f"Institution API token (scopes read/write). Default: ${TOKEN_ENV}. Without it, the command acts as the patient's wallet.", show_default=False)]
CaseArg = Annotated[str, typer.Argument(help="The case id (0x + 64 hex).", show_default=False)]


# ------------------------------------------------------------------------------------------------- plumbing
def _token(option: str | None) -> str | None:
    return (option or os.environ.get(TOKEN_ENV, "")).strip() or None


def _staff(api: str | None, token: str | None) -> ApiClient:
    value = _token(token)
    if value is None:
        raise WalletError(_("This command is for institution staff and needs an API token."), _("Pass --token hs_... or set {variable}.").format(variable=TOKEN_ENV))
    client = ApiClient(resolve_api_url(api))
    client._http.headers["Authorization"] = f"Bearer {value}"
    return client


def _case_id(text: str) -> str:
    value = text.strip().lower()
    if not (value.startswith("0x") and len(value) == 66 and all(c in "0123456789abcdef" for c in value[2:])):
        raise WalletError(_("{text} is not a case id.").format(text=repr(text)), _("A case id is 0x followed by 64 hex digits (see healthsilk case list)."))
    return value


def _resource(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WalletError(_("Cannot read a FHIR resource from {path}: {error}.").format(path=str(path), error=exc), _("Give a JSON file holding one FHIR resource.")) from None
    if not isinstance(value, dict):
        raise WalletError(_("{path} does not hold a FHIR resource.").format(path=str(path)), _("Give a JSON file holding one FHIR resource."))
    return value


def _members(client: ApiClient, names: str) -> list[str]:
    members = client.members()
    out: list[str] = []
    for wanted in (n.strip() for n in names.split(",") if n.strip()):
        lowered = wanted.lower()
        found = [m for m in members if str(m.get("address", "")).lower() == lowered or str(m.get("name", "")).lower() == lowered]
        found = found or [m for m in members if lowered in str(m.get("name", "")).lower()]
        if len(found) != 1:
            raise WalletError(_("{text} names no single member institution.").format(text=repr(wanted)), _("Use a member's full name or its address."))
        out.append(to_checksum_address(str(found[0]["address"])))
    return out


def _show(view: dict[str, Any], json_output: bool) -> None:
    if json_output:
        render.emit_json(view)
        return
    pairs = [
        (_("case"), view["case_id"]), (_("state"), case_state_display(view["state"]) + (_(" (overdue)") if view.get("overdue") else "")),
        (_("priority"), priority_display(view["priority"])),
        (_("requester"), render.who(view.get("requester_name"), view["requester"])), (_("patient"), view["patient"]),
        (_("opened"), render.when(view["opened_at"])), (_("deadline"), render.when(view["deadline"])), (_("consent until"), render.when(view.get("consent_until"))),
        (_("request"), view["request_id"]), (_("attached"), ", ".join(view["attached_ids"]) or "-"),
    ]
    for c in view["consultants"]:
        status = consultant_status_display(c["status"]) + (f" ({decline_reason_display(c['decline_reason'])})" if c.get("decline_reason") else "")
        pairs.append((_("consultant"), f"{render.who(c.get('name'), c['address'])}: {status}"))
    for a in view["answers"]:
        category = category_display([a["category"]])[0] if a.get("category") else ""
        pairs.append((_("answer"), f"{a['record_id']} {category} {render.short(a.get('author'))}"))
    render.key_value(_("Referral case"), [(k, render.escape(str(v))) for k, v in pairs])


def _list(rows: list[dict[str, Any]], json_output: bool) -> None:
    if json_output:
        render.emit_json(rows)
        return
    if not rows:
        render.out.print(_("No referral cases."))
        return
    for row in rows:
        consultants = ", ".join(f"{c.get('name') or render.short(c['address'])} {consultant_status_display(c['status'])}" for c in row["consultants"])
        overdue = _(" overdue") if row.get("overdue") else ""
        state, priority = case_state_display(row["state"]), priority_display(row["priority"])
        render.out.print(f"{row['case_id']}  {state}{overdue}  {priority}  {render.escape(row.get('requester_name') or row['requester'])} -> {render.escape(consultants)}")


# ------------------------------------------------------------------------------------------------- staff
@app.command("open")
@friendly
def open_(
    patient: Annotated[str, typer.Option("--patient", help="The patient's address.", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Consultant institutions, comma-separated (names or addresses).", show_default=False)],
    ask: Annotated[Optional[str], typer.Option("--ask", help="What is asked, in words (builds the ServiceRequest).", show_default=False)] = None,
    request: Annotated[Optional[Path], typer.Option("--request", help="A FHIR ServiceRequest JSON file (instead of --ask).", show_default=False)] = None,
    attach: Annotated[str, typer.Option("--attach", help="Record ids of the patient to attach, comma-separated.")] = "",
    priority: Annotated[str, typer.Option("--priority", help="routine (7 days), urgent (1 day) or stat (2 hours).")] = "routine",
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Open a case: anchor the request, name the records and the consultants (institution staff)."""
    if (ask is None) == (request is None):
        raise WalletError(_("Say what is asked with --ask or --request (one of them)."), _("e.g. --ask \"Please interpret this ECG\""))
    level = priority.strip().upper()
    if level not in Priority.__members__:
        raise WalletError(_("--priority {value} is not known.").format(value=priority), _("Use routine, urgent or stat."))
    resource = _resource(request) if request else service_request(str(ask), priority=level.lower())
    with _staff(api, token) as client:
        body = {"patient": patient, "request": resource, "priority": level, "attached_ids": [r.strip() for r in attach.split(",") if r.strip()], "consultants": _members(client, to)}
        opened = client.request_json("POST", "/v1/cases", json=body)
    if json_output:
        render.emit_json(opened)
        return
    render.out.print(_("Case {case} opened (block {block}); waiting for the patient's approval.").format(case=opened["case_id"], block=opened["block_number"]))


@app.command("list")
@friendly
def list_(
    role: Annotated[str, typer.Option("--role", help="Staff: in (consulted on), out (opened here) or all.")] = "all",
    api: ApiOpt = None, token: TokenOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False,
) -> None:
    """List cases: the institution's (with a token) or your own (from the wallet)."""
    if _token(token):
        with _staff(api, token) as client:
            rows = client.request_json("GET", "/v1/cases", params={"role": role})
    else:
        with PatientSession(api, wallet, for_) as session:
            rows = session.client.request_json("GET", "/v1/cases", params={"patient": session.patient})
    _list(rows, json_output)


@app.command()
@friendly
def show(case: CaseArg, api: ApiOpt = None, token: TokenOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """Show one case: parties, state, deadline, consultants and answers."""
    case_id = _case_id(case)
    if _token(token):
        with _staff(api, token) as client:
            view = client.request_json("GET", f"/v1/cases/{case_id}")
    else:
        with PatientSession(api, wallet, for_) as session:
            view = session.client.request_json("GET", f"/v1/cases/{case_id}")
    _show(view, json_output)


def _staff_action(case: str, action: str, api: str | None, token: str | None, json_output: bool, message: str, **kwargs: Any) -> dict[str, Any]:
    case_id = _case_id(case)
    with _staff(api, token) as client:
        result = client.request_json("POST", f"/v1/cases/{case_id}/{action}", **kwargs)
    if json_output:
        render.emit_json(result)
    else:
        render.out.print(message.format(case=case_id, block=result.get("block_number"), record=result.get("record_id", "")))
    return dict(result)


@app.command()
@friendly
def accept(case: CaseArg, api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """Accept a case you were asked to consult on (institution staff)."""
    _staff_action(case, "accept", api, token, json_output, _("Case {case} accepted (block {block})."))


@app.command()
@friendly
def decline(
    case: CaseArg,
    reason: Annotated[str, typer.Option("--reason", help="BUSY, OUT_OF_SPECIALTY, INSUFFICIENT_DATA or OTHER.")] = "OTHER",
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Decline a case, with a reason code (institution staff)."""
    _staff_action(case, "decline", api, token, json_output, _("Case {case} declined (block {block})."), json={"reason": reason.strip().upper()})


@app.command()
@friendly
def answer(
    case: CaseArg,
    file: Annotated[Optional[Path], typer.Option("--file", help="The answer: a FHIR DiagnosticReport or Communication JSON file.", show_default=False)] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="A short answer or question back, in words (a Communication).", show_default=False)] = None,
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Answer a case you accepted: the answer is anchored as a record and linked to the case (institution staff)."""
    if (file is None) == (text is None):
        raise WalletError(_("Give the answer with --file or --text (one of them)."), _("e.g. --text \"Sinus rhythm, no acute changes\""))
    resource = _resource(file) if file else communication(str(text))
    _staff_action(case, "answers", api, token, json_output, _("Answer {record} linked to case {case} (block {block})."), json={"resource": resource})


@app.command()
@friendly
def read(case: CaseArg, record: Annotated[str, typer.Argument(help="The record id.")], api: ApiOpt = None, token: TokenOpt = None) -> None:
    """Read a record of a case (logged on chain under the case), as JSON (institution staff)."""
    case_id, record_id = _case_id(case), _case_id(record)
    with _staff(api, token) as client:
        resource = client.request_json("GET", f"/v1/records/{record_id}", params={"flow": "case", "ref": case_id})
    render.emit_json(resource)


@app.command()
@friendly
def share(
    case: CaseArg, record: Annotated[str, typer.Argument(help="The answer (or note) to share.")],
    with_: Annotated[str, typer.Option("--with", help="Consultants of the case, comma-separated.", show_default=False)],
    api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False,
) -> None:
    """Share one consultant's answer with other consultants of the case (the requester)."""
    with _staff(api, token) as client:
        consultants = _members(client, with_)
    _staff_action(case, "share", api, token, json_output, _("Shared within case {case} (block {block})."), json={"record_id": _case_id(record), "consultants": consultants})


@app.command()
@friendly
def close(case: CaseArg, api: ApiOpt = None, token: TokenOpt = None, json_output: JsonOpt = False) -> None:
    """Close a case you opened: its consent ends, every later read under it is refused (institution staff)."""
    _staff_action(case, "close", api, token, json_output, _("Case {case} closed (block {block})."))


# ------------------------------------------------------------------------------------------------- patient
def _checked_view(session: PatientSession, case_id: str) -> CaseView:
    """The case as the API shows it, accepted only when it hashes to the case id and is this wallet's (or, with --for, the patient's)."""
    view = CaseView.model_validate(session.client.request_json("GET", f"/v1/cases/{case_id}"))
    consultants = [c.address for c in view.consultants]
    committed = case_id_of(view.requester, bytes.fromhex(view.request_id[2:]), [bytes.fromhex(r[2:]) for r in view.attached_ids], consultants, Priority[view.priority])
    if "0x" + committed.hex() != case_id:
        raise RefusedToSign(_("the case the API shows does not match case id {case} (its records, consultants or priority differ)").format(case=case_id))
    if to_checksum_address(view.patient) != session.patient:
        if session.as_delegate:
            raise RefusedToSign(_("case {case} is for patient {patient}, not for patient {wanted} you act for").format(case=case_id, patient=view.patient, wanted=session.patient))
        raise RefusedToSign(_("case {case} is for patient {patient}, not this wallet").format(case=case_id, patient=view.patient))
    return view


def _contract(session: PatientSession) -> str:
    """The ReferralCases address this network lists (never the message's own: that is what is being checked)."""
    listed = session.network().contracts.get(CONTRACT_NAME)
    if not listed:
        raise RefusedToSign(_("the API does not name this network's {name} contract").format(name=CONTRACT_NAME))
    return listed


def _sign(session: PatientSession, typed: dict[str, Any], primary: str, case_id: str, summary: str, yes: bool, until: int | None = None) -> str:
    struct = (APPROVE_CASE_TYPES if primary == "ApproveCase" else REFUSE_CASE_TYPES)[primary]
    message = checked_message(typed, primary, struct, session.network().chain_id, _contract(session), CONTRACT_NAME)
    if "0x" + bytes(message["caseId"]).hex() != case_id:
        raise RefusedToSign(_("the message is for another case"))
    if until is not None and message["until"] != until:
        raise RefusedToSign(_("the message ends the case consent at another time than the one you chose"))
    now = session.network().chain_time
    if not now - 60 < message["deadline"] <= now + MAX_DEADLINE_SECONDS:
        raise RefusedToSign(_("the signature deadline is not within the next hour"))
    if session.as_delegate:
        render.info(_("[bold]As delegate of patient {patient}, you ({signer}) are about to sign for the patient[/] (relayed by the requester):").format(patient=session.patient, signer=session.address))
    else:
        render.info(_("[bold]You are about to sign[/] (relayed by the requester):"))
    render.info(f"  • {render.escape(summary)}")
    if session.as_delegate:
        signed_by = _("signed by you as delegate; nonce {nonce} (yours); signature valid until {time}").format(nonce=message["nonce"], time=render.when(message["deadline"]))
        render.info(f"  • {render.escape(signed_by)}")
    if not yes and not _confirm(_("Sign and send this?")):
        raise WalletError(_("Not signed: you declined."), _("Nothing was sent. Pass --yes to sign without the question."))
    return sign_typed_data(session.identity.account, typed)


@app.command()
@friendly
def approve(
    case: CaseArg,
    days: Annotated[int, typer.Option("--days", min=1, max=MAX_CONSENT_SECONDS // 86400, help="The case consent ends after this many days, or when the case closes.")] = 30,
    answer_consent: Annotated[bool, typer.Option("--answer-consent/--no-answer-consent", help="Let consultants without a consent write their answers to your record (a consent for new records only, until the same day).")] = True,
    api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, yes: YesOpt = False, json_output: JsonOpt = False,
) -> None:
    """Approve a referral case: the consultants who accept may read exactly its records until the case closes.

    Also sends the consultants the keys of attached records that other members wrote (the requester's API releases its own)."""
    case_id = _case_id(case)
    with PatientSession(api, wallet, for_) as session:
        view = _checked_view(session, case_id)
        rows = {str(r["record_id"]).lower(): r for r in session.client.records(session.patient)}
        categories = {rid: str(rows.get(rid, {}).get("category", "?")) for rid in [view.request_id, *view.attached_ids]}
        until = session.network().chain_time + days * 86400
        typed = session.client.request_json("GET", f"/v1/cases/{case_id}/approval", params={"until": until})["typed_data"]
        signature = _sign(session, typed, "ApproveCase", case_id, approval_summary(view, until, categories), yes, until)
        m = typed["message"]
        result = session.client.request_json("POST", f"/v1/cases/{case_id}/approval", json={"until": until, "nonce": int(m["nonce"]), "deadline": int(m["deadline"]), "signature": signature})
        # Re-wrapping needs the patient's own key, which a delegate does not hold.
        shared = {} if session.as_delegate else _share_case_keys(session, view, rows)
        unshared = _others_records(view, rows) if session.as_delegate else []
        granted = _answer_consents(session, view, categories, until, yes) if answer_consent else []
    if json_output:
        render.emit_json({**result, "patient": session.patient, "signer": session.address, "keys_shared": shared, "answer_consents": granted, "keys_not_shared": unshared})
        return
    if session.as_delegate:
        render.out.print(_("As delegate of patient {patient}: case {case} approved until {until} (block {block}).").format(
            patient=session.patient, case=case_id, until=render.when(until), block=result["block_number"]))
        if unshared:
            render.info(_("[yellow]Note:[/] {count} record(s) of the case were written by other members; only the patient's wallet can send their keys to the consultants (healthsilk case approve {case} on it).").format(count=len(unshared), case=case_id))
    else:
        render.out.print(_("Case {case} approved until {until} (block {block}).").format(case=case_id, until=render.when(until), block=result["block_number"]))
    for name, count in shared.items():
        render.out.print(_("Sent {institution} the keys of {count} record(s) other members wrote.").format(institution=render.escape(name), count=count))


def _share_case_keys(session: PatientSession, view: CaseView, rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Re-wrap, for every consultant, the keys of the case's records that someone other than the requester authored."""
    others = _others_records(view, rows)
    shared: dict[str, int] = {}
    if not others:
        return shared
    members = {to_checksum_address(str(m["address"])): m for m in session.members()}
    own_key = session.identity.hpke_key
    for consultant in view.consultants:
        member = members.get(consultant.address)
        if member is None:
            continue
        try:
            target_key = HpkePublicKey.from_hex(str(member.get("hpke_public_key")))
        except (CryptoError, ValueError):
            continue
        wraps: dict[str, str] = {}
        for rid in others:
            obj = open_sealed(session, rid, rows[rid].get("content_hash"))
            own = obj.wrap_for(session.address)
            if own is not None and obj.wrap_for(consultant.address) is None:
                wraps[rid] = "0x" + rewrap(own, obj.context, own_key, target_key).hex()
        if wraps:
            with grantee_api(session, member) as target:
                target.post_key_shares(consultant.address, wraps)
            shared[str(member.get("name") or consultant.address)] = len(wraps)
    return shared


def _others_records(view: CaseView, rows: dict[str, dict[str, Any]]) -> list[str]:
    """The case's records that a member other than the requester wrote (the requester's API releases only its own)."""
    return [rid for rid in [view.request_id, *view.attached_ids] if to_checksum_address(str(rows.get(rid, {}).get("author", view.requester))) != view.requester]


def _answer_consents(session: PatientSession, view: CaseView, categories: dict[str, str], until: int, yes: bool) -> list[str]:
    """A consent for new records only (REFERRAL and the attached records' categories, for treatment), until the case
    consent ends, for consultants that hold no active consent: it is what lets them anchor their answers."""
    mask = Category.REFERRAL.bit
    for name in categories.values():
        if name in Category.__members__:
            mask |= Category[name].bit
    consents = session.client.consents(session.patient)
    active = {to_checksum_address(str(c["grantee"])): c for c in consents if c.get("status") == "ACTIVE"}
    now = session.network().chain_time
    granted: list[str] = []
    for consultant in view.consultants:
        standing = active.get(consultant.address)
        if standing is not None:
            # A standing consent is never replaced behind the patient's back (a grant replaces the earlier one).
            missing = sorted(set(category_names(mask)) - set(standing.get("categories") or []))
            if missing:
                render.info(_("{institution} holds a consent of yours that does not cover {categories}: it can answer only with records of the categories it covers (widen it with healthsilk consent grant).").format(
                    institution=render.escape(consultant.name or consultant.address), categories=", ".join(category_display(missing))))
            continue
        body = {
            "action": "grant", "patient": session.patient, "grantee": consultant.address, "categories": category_names(mask), "purposes": ["TREATMENT"],
            "valid_from": now - 60, "valid_until": until, "data_from": now, "data_until": 0,
        }
        terms = {"grantee": consultant.address, "categories": mask, "purposes": 1, "validFrom": now - 60, "validUntil": until, "dataFrom": now, "dataUntil": 0}
        session.sign_and_send(body, Expected("GrantConsent", session.patient, terms), yes=yes)
        granted.append(consultant.address)
    return granted


@app.command()
@friendly
def refuse(case: CaseArg, api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, yes: YesOpt = False, json_output: JsonOpt = False) -> None:
    """Refuse a referral case (or withdraw your approval): no consultant reads your records under it."""
    case_id = _case_id(case)
    with PatientSession(api, wallet, for_) as session:
        view = _checked_view(session, case_id)
        typed = session.client.request_json("GET", f"/v1/cases/{case_id}/refusal")["typed_data"]
        signature = _sign(session, typed, "RefuseCase", case_id, refusal_summary(view), yes)
        m = typed["message"]
        result = session.client.request_json("POST", f"/v1/cases/{case_id}/refusal", json={"nonce": int(m["nonce"]), "deadline": int(m["deadline"]), "signature": signature})
    if json_output:
        render.emit_json({**result, "patient": session.patient, "signer": session.address})
        return
    if session.as_delegate:
        render.out.print(_("As delegate of patient {patient}: case {case} refused (block {block}).").format(patient=session.patient, case=case_id, block=result["block_number"]))
    else:
        render.out.print(_("Case {case} refused (block {block}).").format(case=case_id, block=result["block_number"]))
