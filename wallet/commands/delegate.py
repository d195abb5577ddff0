"""`healthsilk delegate ...`: let a guardian or carer act for you (they use `--for YOUR_ADDRESS`), or stop them."""

from __future__ import annotations

from typing import Annotated

import typer
from eth_utils import is_address, to_checksum_address

from i18n import _
from wallet import render
from wallet.errors import WalletError
from wallet.options import ApiOpt, JsonOpt, WalletOpt, YesOpt, friendly
from wallet.session import PatientSession
from wallet.typed_data import ZERO_ADDRESS, Expected

app = typer.Typer(
    help="Your delegate (a guardian or carer) may act for you from their own wallet with --for YOUR_ADDRESS: grant and revoke consents, "
    "read your records and access log, see your cards and confirm claims. One at a time; removing them stops it from the next block.",
    no_args_is_help=True,
)


@app.command()
@friendly
def add(
    address: Annotated[str, typer.Argument(help="The delegate's wallet address (0x...).", show_default=False)],
    api: ApiOpt = None,
    wallet: WalletOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Make ADDRESS your delegate (replaces any current one)."""
    if not is_address(address):
        raise WalletError(_("{text} is not an address.").format(text=repr(address)), _("Give the delegate's wallet address: 0x followed by 40 hex digits (see 'healthsilk wallet show' on their wallet)."))
    delegate = to_checksum_address(address)
    with PatientSession(api, wallet) as session:
        if delegate == session.address:
            raise WalletError(_("You cannot be your own delegate."), _("Give the address of the person who should act for you."))
        body = {"action": "delegate", "patient": session.address, "delegate": delegate}
        result = session.sign_and_send(body, Expected("SetDelegate", session.address, {"delegate": delegate}), yes=yes)
    if json_output:
        render.emit_json({**result, "delegate": delegate})
    else:
        render.out.print(_("{delegate} is now your delegate (block {block}).").format(delegate=delegate, block=result.get("block_number")))


@app.command()
@friendly
def remove(api: ApiOpt = None, wallet: WalletOpt = None, yes: YesOpt = False, json_output: JsonOpt = False) -> None:
    """Remove your delegate: nobody may act on your consents for you any more."""
    with PatientSession(api, wallet) as session:
        body = {"action": "delegate", "patient": session.address, "delegate": None}
        result = session.sign_and_send(body, Expected("SetDelegate", session.address, {"delegate": ZERO_ADDRESS}), yes=yes)
    if json_output:
        render.emit_json({**result, "delegate": None})
    else:
        render.out.print(_("Delegate removed (block {block}).").format(block=result.get("block_number")))
