"""`healthsilk wallet ...`: create the key file, show it, export the public half, register on the ledger."""

from __future__ import annotations

import typer

from crypto.keyfile import DEFAULT_SCRYPT_N
from i18n import _
from wallet import render
from wallet.keystore import (
    SCRYPT_N_ENV,
    create_wallet,
    file_mode,
    read_password,
    read_wallet,
    refuse_existing,
    resolve_wallet_path,
    scrypt_cost,
)
from wallet.options import ApiOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.registration import register
from wallet.session import PatientSession

app = typer.Typer(
    help="Your wallet: the key file holding your signing key and your record-encryption (HPKE) key. Keys never leave it.",
    no_args_is_help=True,
)


def _public(path_option: WalletOpt) -> dict[str, object]:
    path = resolve_wallet_path(path_option)
    keyfile = read_wallet(path)
    key = keyfile.hpke_public_key
    return {"address": keyfile.address, "hpke_public_key": key.to_hex(), "hpke_suite": key.spec.name, "wallet": str(path)}


@app.command()
@friendly
def create(
    wallet: WalletOpt = None,
    hybrid: bool = typer.Option(False, "--hybrid", help="Use the post-quantum hybrid ML-KEM-768 + X25519 record-encryption key (bigger keys, same use)."),
    json_output: JsonOpt = False,
) -> None:
    """Create a new wallet: a signing key and a record-encryption key, encrypted under a password you choose.

    The password is asked twice (or read from $HEALTHSILK_WALLET_PASSWORD). The file is written with mode 0600; back it up: without it and its password nobody, not even you, can read your records.
    """
    path = resolve_wallet_path(wallet)
    refuse_existing(path)  # say so before asking for a password
    keyfile = create_wallet(path, read_password(confirm=True), hybrid=hybrid)
    if scrypt_cost() < DEFAULT_SCRYPT_N:
        render.info(_("[yellow]Note:[/] {variable} made the password protection weaker than the default; use it for tests only.").format(variable=SCRYPT_N_ENV))
    key = keyfile.hpke_public_key
    summary = {"address": keyfile.address, "hpke_public_key": key.to_hex(), "hpke_suite": key.spec.name, "wallet": str(path)}
    if json_output:
        render.emit_json(summary)
        return
    render.key_value(_("New wallet"), [(_("address"), keyfile.address), (_("encryption key"), f"{key.spec.name}"), (_("file"), _("{path} (mode {mode})").format(path=path, mode=f"{file_mode(path):o}"))])
    render.out.print(_("Back this file up and keep the password safe. Next: healthsilk consent grant --to <institution> ... (registers you on first use)"))


@app.command()
@friendly
def show(wallet: WalletOpt = None, json_output: JsonOpt = False) -> None:
    """Show the wallet's address and public key (no password needed: only public data is read)."""
    data = _public(wallet)
    path = resolve_wallet_path(wallet)
    data["file_mode"] = f"{file_mode(path):o}"
    if json_output:
        render.emit_json(data)
        return
    render.key_value(
        _("Wallet"),
        [(_("address"), str(data["address"])), (_("encryption key"), f"{data['hpke_suite']}  {render.short(str(data['hpke_public_key']), 18)}"), (_("file"), _("{path} (mode {mode})").format(path=path, mode=data["file_mode"]))],
    )
    if file_mode(path) & 0o077:
        render.info(_("[yellow]Warning:[/] {path} is readable by other users; run: chmod 600 {path}").format(path=path))


@app.command("export-public")
@friendly
def export_public(wallet: WalletOpt = None) -> None:
    """Print your address and record-encryption public key as JSON, to give to an institution. Contains no secrets."""
    data = _public(wallet)
    render.emit_json({"address": data["address"], "hpke_public_key": data["hpke_public_key"], "hpke_suite": data["hpke_suite"]})


@app.command("register")
@friendly
def register_command(api: ApiOpt = None, wallet: WalletOpt = None, yes: YesOpt = False, json_output: JsonOpt = False) -> None:
    """Publish your record-encryption public key on the ledger, so institutions can encrypt records to you.

    You sign the registration in the wallet; the institution's API relays it (you need no gas). 'consent grant' does this for you the first time.
    """
    with PatientSession(api, wallet) as session:
        result = register(session, yes=yes, force=True)
    if json_output:
        render.emit_json(result or {"registered": True})
    elif result:
        render.out.print(_("Registered on the ledger (block {block}, transaction {transaction}).").format(block=result.get("block_number"), transaction=result.get("transaction_hash")))

