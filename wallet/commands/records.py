"""`healthsilk records ...`: list your anchored records and read one, decrypted here with your own key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.syntax import Syntax

from wallet import render
from wallet.errors import WalletError
from wallet.options import ApiOpt, JsonOpt, WalletOpt, friendly
from wallet.session import PatientSession
from wallet.sharing import open_sealed

app = typer.Typer(help="Your health records: list them, and read one (decrypted on this computer with your own key).", no_args_is_help=True)


@app.command("list")
@friendly
def list_(api: ApiOpt = None, wallet: WalletOpt = None, json_output: JsonOpt = False) -> None:
    """List the records anchored on the ledger for you: id, category, author, block."""
    with PatientSession(api, wallet) as session:
        rows = session.client.records(session.address)
    if json_output:
        render.emit_json(rows)
    else:
        render.records_table(rows)


def _check_id(record_id: str) -> str:
    text = record_id.strip().lower()
    if not text.startswith("0x"):
        text = "0x" + text
    if len(text) != 66 or any(ch not in "0123456789abcdef" for ch in text[2:]):
        raise WalletError(f"{record_id!r} is not a record id.", "A record id is 0x followed by 64 hex digits; see: healthsilk records list")
    return text


def _write_private(path: Path, data: bytes, force: bool) -> None:
    """Health data: written 0600, and never over an existing file unless --force."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise WalletError(f"{path} already exists.", "Choose another --out file, or add --force to replace it.") from None
    except OSError as exc:
        raise WalletError(f"Cannot write {path}: {exc.strerror}.", "Choose another --out file.") from None
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
    json_output: JsonOpt = False,
) -> None:
    """Fetch one of your records in its sealed form and decrypt it here with your own key.

    The sealed bytes are checked against the hash anchored on the ledger before decryption.
    """
    rid = _check_id(record_id)
    with PatientSession(api, wallet) as session:
        listing: dict[str, Any] = next((r for r in session.client.records(session.address) if str(r.get("record_id", "")).lower() == rid), {})
        if listing.get("erased"):
            raise WalletError(f"Record {rid} was erased; its content can no longer be read.", "See the other records with: healthsilk records list")
        obj = open_sealed(session, rid, listing.get("content_hash"))
        wrap = obj.wrap_for(session.address)
        if wrap is None:
            raise WalletError(f"Record {rid} carries no key for your wallet.", "Tell the institution that wrote it; it must encrypt records to your registered key.")
        payload = obj.open(session.identity.hpke_key, wrap)
        names: dict[str, str] = {}
        if out is None and not json_output:
            try:
                names = session.names()
            except WalletError:
                pass  # names are a nicety; the record is what was asked for
    if out is not None:
        _write_private(out, payload, force)
        render.info(f"Wrote the decrypted record ({len(payload)} bytes, {obj.media_type}) to {out}.")
        return
    try:
        resource = json.loads(payload)
    except ValueError:
        raise WalletError(f"Record {rid} decrypted, but it is not JSON ({obj.media_type}).", "Save it with --out FILE instead.") from None
    if json_output:
        render.emit_json(resource)
        return
    render.key_value(
        "Record",
        [("record id", rid), ("resource", str(resource.get("resourceType", "?")) if isinstance(resource, dict) else "?"), ("category", str(listing.get("category", obj.category))),
         ("author", render.who(names.get(obj.author) or listing.get("author_name"), obj.author)), ("version", str(obj.version))],
    )
    render.out.print(Syntax(json.dumps(resource, indent=2), "json", word_wrap=True))
