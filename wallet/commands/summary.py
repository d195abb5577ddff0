"""`healthsilk summary`: your emergency summary (IPS-style FHIR document Bundle), built on this computer from your own
records decrypted with your own key: allergies, medications, problems, immunisations and the last ECG."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from care.summary import SECTIONS, SummaryInput, build_bundle, newest_versions
from i18n import N_, _
from ledger.records import Anchor
from ledger.vocabulary import Category
from wallet import render
from wallet.errors import WalletError
from wallet.options import ApiOpt, JsonOpt, WalletOpt, friendly
from wallet.session import PatientSession
from wallet.sharing import open_sealed

app = typer.Typer(help="Your emergency summary (International Patient Summary style): show it or export it.", invoke_without_command=True)


def _anchor(row: dict[str, Any]) -> Anchor | None:
    try:
        category = Category[str(row["category"])]
    except KeyError:
        return None
    zero = b"\x00" * 32
    return Anchor(record_id=bytes.fromhex(row["record_id"][2:]), patient="0x" + "00" * 20, author=row["author"], category=category.value,
                  content_hash=bytes.fromhex(row["content_hash"][2:]), cid=b"", supersedes=bytes.fromhex(row["supersedes"][2:]) if row.get("supersedes") else zero,
                  consent_id=zero, block_number=int(row["anchored_at"]), transaction_hash="", batch=None)


def build(session: PatientSession) -> dict[str, Any]:
    rows = session.client.records(session.address)
    anchors = [a for row in rows if not row.get("batch_root") and (a := _anchor(row)) is not None]
    erased = {bytes.fromhex(r["record_id"][2:]) for r in rows if r.get("erased")}
    found = SummaryInput(patient=session.address)
    hashes = {r["record_id"].lower(): r.get("content_hash") for r in rows}
    for anchor in newest_versions(anchors, erased):
        rid = "0x" + anchor.record_id.hex()
        try:
            obj = open_sealed(session, rid, hashes.get(rid))
            wrap = obj.wrap_for(session.address)
            if wrap is None:
                raise WalletError(_("no key for this wallet"), "")
            found.add(anchor.category, anchor.record_id, json.loads(obj.open(session.identity.hpke_key, wrap)))
        except (WalletError, ValueError) as exc:
            found.missing(anchor.category, anchor.record_id, str(exc))
    # The document's date: this computer's clock, which is what the patient sees (nothing is judged by it).
    return build_bundle(found, int(time.time()), session.address)


@app.callback()
@friendly
def summary(
    ctx: typer.Context,
    export: Annotated[Path | None, typer.Option("--export", help="Write the FHIR Bundle to this file (mode 0600).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="With --export: replace an existing file.")] = False,
    api: ApiOpt = None, wallet: WalletOpt = None, json_output: JsonOpt = False,
) -> None:
    """Show your emergency summary, or export it as a FHIR document Bundle."""
    if ctx.invoked_subcommand is not None:
        return
    with PatientSession(api, wallet) as session:
        bundle = build(session)
    if export is not None:
        if export.exists() and not force:
            raise WalletError(_("{path} already exists.").format(path=export), _("Pass --force to replace it."))
        fd = os.open(export, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(bundle, handle, indent=2)
        render.info(_("Wrote your emergency summary to {path}.").format(path=export))
        return
    if json_output:
        render.emit_json(bundle)
        return
    resources = {e["fullUrl"]: e["resource"] for e in bundle["entry"][1:]}
    table = Table(title=_("Your emergency summary"), title_justify="left")
    table.add_column(_("section"))
    table.add_column(_("entries"), overflow="fold")
    for section in bundle["entry"][0]["resource"]["section"]:
        items = [_label(resources[ref["reference"]]) for ref in section.get("entry", [])]
        empty = section.get("emptyReason", {}).get("coding", [{}])[0].get("code")
        table.add_row(_section_name(section), "\n".join(items) or (_("could not be read") if empty == "unavailable" else _("none recorded")))
    render.out.print(table)


# The IPS sections' titles (LOINC) as the patient reads them; the Bundle itself keeps LOINC's English titles.
SECTION_NAMES = {
    "48765-2": N_("Allergies and adverse reactions"),
    "10160-0": N_("History of medication use"),
    "11450-4": N_("Problem list"),
    "11369-6": N_("History of immunizations"),
    "8601-7": N_("EKG impression"),
}


def _section_name(section: dict[str, Any]) -> str:
    code = section.get("code", {}).get("coding", [{}])[0].get("code")
    return _(SECTION_NAMES[code]) if code in SECTION_NAMES else str(section.get("title", ""))


def _label(resource: dict[str, Any]) -> str:
    """The resource's own coded text (clinical text is shown as written, never translated)."""
    for key in ("code", "medicationCodeableConcept", "vaccineCode"):
        concept = resource.get(key) or {}
        if concept.get("text"):
            return str(concept["text"])
        for coding in concept.get("coding", []):
            if coding.get("display") or coding.get("code"):
                return str(coding.get("display") or coding.get("code"))
    return str(resource.get("resourceType"))


__all__ = ["SECTIONS", "app", "build"]
