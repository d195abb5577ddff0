"""`healthsilk records ...`: list your anchored records, read one (decrypted here with your own key), erase one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from eth_utils import to_checksum_address
from rich.syntax import Syntax

from i18n import _
from i18n.vocabulary import category_display
from wallet import render
from crypto.record_object import RecordObject
from wallet.errors import ApiError, RefusedToSign, WalletError
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession
from wallet.sharing import open_sealed
from wallet.typed_data import check_request_erasure, sign_typed_data

app = typer.Typer(help="Your health records: list them, read one (decrypted on this computer with your own key), erase one.", no_args_is_help=True)


@app.command("list")
@friendly
def list_(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """List the records anchored on the ledger for you (with --for: for the patient you are delegate of): id, category, author, block."""
    with PatientSession(api, wallet, for_) as session:
        rows = session.client.records(session.patient)
    if json_output:
        render.emit_json(rows)
    else:
        render.records_table(rows)


def _check_id(record_id: str) -> str:
    text = record_id.strip().lower()
    if not text.startswith("0x"):
        text = "0x" + text
    if len(text) != 66 or any(ch not in "0123456789abcdef" for ch in text[2:]):
        raise WalletError(_("{text} is not a record id.").format(text=repr(record_id)), _("A record id is 0x followed by 64 hex digits; see: healthsilk records list"))
    return text


def _write_private(path: Path, data: bytes, force: bool) -> None:
    """Health data: written 0600, and never over an existing file unless --force."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise WalletError(_("{path} already exists.").format(path=path), _("Choose another --out file, or add --force to replace it.")) from None
    except OSError as exc:
        raise WalletError(_("Cannot write {path}: {reason}.").format(path=path, reason=exc.strerror), _("Choose another --out file.")) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@app.command()
@friendly
def show(
    record_id: Annotated[str, typer.Argument(help="The record id (0x + 64 hex), as shown by 'records list'.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the decrypted FHIR JSON to this file (mode 0600) instead of the screen.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="With --out: replace an existing file.")] = False,
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    for_: ForOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Fetch one of your records in its sealed form and decrypt it here with your own key.

    The sealed bytes are checked against the hash anchored on the ledger before decryption.

    With --for PATIENT (you are the patient's delegate): the institution that wrote the record re-wraps its key to
    your own registered key (register once with 'healthsilk wallet register'), and the read appears in the patient's
    access log as yours.
    """
    rid = _check_id(record_id)
    with PatientSession(api, wallet, for_) as session:
        listing: dict[str, Any] = next((r for r in session.client.records(session.patient) if str(r.get("record_id", "")).lower() == rid), {})
        if listing.get("erased"):
            raise WalletError(_("Record {record} was erased; its content can no longer be read.").format(record=rid), _("See the other records with: healthsilk records list"))
        if session.as_delegate:
            obj, payload = _open_as_delegate(session, rid, listing)
        else:
            obj = open_sealed(session, rid, listing.get("content_hash"))
            wrap = obj.wrap_for(session.address)
            if wrap is None:
                raise WalletError(_("Record {record} carries no key for your wallet.").format(record=rid), _("Tell the institution that wrote it; it must encrypt records to your registered key."))
            payload = obj.open(session.identity.hpke_key, wrap)
        names: dict[str, str] = {}
        if out is None and not json_output:
            try:
                names = session.names()
            except WalletError:
                pass  # names are a nicety; the record is what was asked for
    if out is not None:
        _write_private(out, payload, force)
        render.info(_("Wrote the decrypted record ({size} bytes, {media_type}) to {path}.").format(size=len(payload), media_type=obj.media_type, path=out))
        return
    try:
        resource = json.loads(payload)
    except ValueError:
        raise WalletError(_("Record {record} decrypted, but it is not JSON ({media_type}).").format(record=rid, media_type=obj.media_type), _("Save it with --out FILE instead.")) from None
    if json_output:
        render.emit_json(resource)
        return
    render.key_value(
        _("Record"),
        [(_("record id"), rid), (_("resource"), str(resource.get("resourceType", "?")) if isinstance(resource, dict) else "?"),
         (_("category"), _coded(str(listing.get("category", obj.category)))),
         (_("author"), render.who(names.get(obj.author) or listing.get("author_name"), obj.author)), (_("version"), str(obj.version))],
    )
    # The resource itself is the clinician's text: shown as written, never translated.
    render.out.print(Syntax(json.dumps(resource, indent=2), "json", word_wrap=True))


def _open_as_delegate(session: PatientSession, rid: str, listing: dict[str, Any]) -> tuple[RecordObject, bytes]:
    """As the patient's delegate: the sealed record, checked against its anchor, opened with a key wrap the author's
    API made for this wallet's own registered key (the patient's key never leaves the patient's wallet)."""
    if not listing:
        raise WalletError(_("Record {record} is not a record of patient {patient}.").format(record=rid, patient=session.patient),
                          _("See the patient's records with: healthsilk records list --for {patient}").format(patient=session.patient))
    data = session.client.sealed(rid)
    if "0x" + hashlib.sha256(data).hexdigest() != str(listing.get("content_hash", "")).lower():
        raise WalletError(_("The sealed record {record} does not match the hash anchored on the ledger.").format(record=rid), _("Do not trust its content; tell the institution."))
    obj = RecordObject.decode(data)
    if "0x" + obj.record_id.hex() != rid or obj.patient != session.patient:
        raise WalletError(_("The API sent another record than {record} of patient {patient}.").format(record=rid, patient=session.patient), _("Tell the institution."))
    try:
        with session.author_api(str(listing.get("author"))) as author_api:
            answer = author_api.delegate_keys([rid])
    except ApiError as exc:
        if exc.problem_type.endswith("/patient-not-registered"):
            raise WalletError(_("Your own encryption key is not on the ledger, so no record key can be released to you."), _("Register it once with: healthsilk wallet register")) from None
        raise
    wrap = next((w for w in answer["wraps"] if isinstance(w, dict) and str(w.get("record_id", "")).lower() == rid and w.get("version") == obj.version), None)
    if wrap is None:
        raise WalletError(_("The institution released no key for record {record} (version {version}).").format(record=rid, version=obj.version), _("Tell the institution."))
    try:
        raw = bytes.fromhex(str(wrap.get("wrap", ""))[2:])
    except ValueError:
        raise WalletError(_("The institution's key wrap for record {record} is malformed.").format(record=rid), _("Tell the institution.")) from None
    return obj, obj.open(session.identity.hpke_key, raw)


def _coded(category: str) -> str:
    """"LAB" -> "laboratory results (LAB)": the code the ledger and `--categories` use, with what it means."""
    return f"{category_display([category])[0]} ({category})"


def _confirm(question: str) -> bool:
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:  # end of input (e.g. not a terminal)
        return False


@app.command()
@friendly
def erase(
    record_id: Annotated[str, typer.Argument(help="The record id (0x + 64 hex), as shown by 'records list'.", show_default=False)],
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Erase one of your records for good (crypto-shredding). This cannot be undone.

    The ledger marks the record erased, the institution unpins its encrypted payload and drops its keys, and nobody can read it again. You see which record you erase before anything is signed; the signature is checked against this network's RecordRegistry, made in this wallet, and relayed by the institution (you pay no fees).
    """
    rid = _check_id(record_id)
    with PatientSession(api, wallet) as session:
        client = session.client
        listing = next((r for r in client.records(session.address) if str(r.get("record_id", "")).lower() == rid), None)
        if listing is None:
            raise WalletError(_("Record {record} is not one of your records.").format(record=rid), _("See your records with: healthsilk records list"))
        if listing.get("erased"):
            raise WalletError(_("Record {record} is already erased.").format(record=rid), _("Nothing to do. See your records with: healthsilk records list"))
        network = client.network()
        try:
            chain_id = int(network["chain_id"])
            registry = to_checksum_address(network["contracts"]["RecordRegistry"])
        except (KeyError, TypeError, ValueError):
            raise RefusedToSign(_("the API's /v1/network answer does not name this network's RecordRegistry contract")) from None
        typed = client.prepare_erasure(rid)["typed_data"]
        message = check_request_erasure(typed, patient=session.address, record_id=rid, chain_id=chain_id, record_registry=registry)
        # The words come from the wallet's own record listing and the checked message, not from the API's summary.
        author = render.who(session.names().get(to_checksum_address(str(listing.get("author")))) or listing.get("author_name"), listing.get("author"))
        dated = render.when(listing.get("anchored_time"), date_only=True) if listing.get("anchored_time") else _("block {number}").format(number=listing.get("anchored_at", "?"))
        institution = session.network().institution_name or session.api_url
        render.info(_("[bold]You are about to erase a record[/] (relayed by {institution}):").format(institution=render.escape(institution)))
        for line in (
            _("your {category} record {record}").format(category=listing.get("category"), record=rid),
            _("written by {author}, anchored {date}").format(author=author, date=dated),
            _("the ledger marks it erased; institutions unpin its encrypted payload and drop its keys; nobody can read it again"),
            _("THIS CANNOT BE UNDONE."),
            _("as patient {patient}; nonce {nonce}; signature valid until {time}").format(patient=message["patient"], nonce=message["nonce"], time=render.when(message["deadline"])),
        ):
            render.info(f"  • {render.escape(line)}")
        if not yes and not _confirm(_("Erase this record for good?")):
            raise WalletError(_("Not erased: you declined."), _("Nothing was signed or sent. Pass --yes to erase without the question."))
        signature = sign_typed_data(session.identity.account, typed)
        result = client.relay_erasure(rid, typed, signature)
    if json_output:
        render.emit_json(result)
        return
    render.out.print(_("Record {record} erased (block {block}).").format(record=rid, block=result.get("block_number")))
    if not result.get("purged"):
        render.info(_("[yellow]Note:[/] the institution has not purged its copy yet: {reason}").format(reason=render.escape(str(result.get("purge_detail") or _("no reason given")))))
