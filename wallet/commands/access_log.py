"""`healthsilk access-log`: who read your records, when, why, and under which consent."""

from __future__ import annotations

import typer

from wallet import render
from wallet.options import ApiOpt, ForOpt, JsonOpt, WalletOpt, friendly
from wallet.session import PatientSession

app = typer.Typer(help="Who read your records: every read through an institution's API is logged on the ledger.", subcommand_metavar="")


@app.callback(invoke_without_command=True)
@friendly
def access_log(api: ApiOpt = None, wallet: WalletOpt = None, for_: ForOpt = None, json_output: JsonOpt = False) -> None:
    """Show who read your records (with --for: the patient's), when, for what purpose, and under which consent (from the ledger).

    Reads by the patient's delegate are listed too (flow 'delegate'): logged on chain before the key was released.
    """
    with PatientSession(api, wallet, for_) as session:
        rows = session.client.access_log(session.patient)
    if json_output:
        render.emit_json(rows)
    else:
        render.access_table(rows)
