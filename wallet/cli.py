"""The `healthsilk` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from i18n import language_from_environment, set_language
from i18n.cli_help import TranslatedGroup
from ledger.audit.cli import app as audit_app
from api.cli import app as api_app
from network.cli import app as network_app
from wallet.commands.access_log import app as wallet_access_log_app
from wallet.commands.account import app as wallet_account_app
from wallet.commands.card import app as wallet_card_app
from wallet.commands.claims import app as wallet_claims_app
from wallet.commands.consent import app as wallet_consent_app
from wallet.commands.delegate import app as wallet_delegate_app
from wallet.commands.records import app as wallet_records_app
from wallet.commands.emergency import app as wallet_emergency_app
from wallet.commands.alerts import app as wallet_alerts_app
from wallet.commands.summary import app as wallet_summary_app
from wallet.commands.cases import app as wallet_cases_app
from wallet.commands.prescriptions import app as wallet_prescriptions_app, rx_app as staff_rx_app
from wallet.commands.publichealth import app as wallet_publichealth_app
from wallet.commands.governance import app as governance_app
from wallet.commands.payer import app as payer_app

# TranslatedGroup: the language is chosen from the arguments before click parses them, so --help is translated too.
app = typer.Typer(cls=TranslatedGroup, help="healthsilk: patient-owned health records and consent on a permissioned ledger.", no_args_is_help=True)


@app.callback()
def _language(
    lang: Annotated[Optional[str], typer.Option("--lang", help="Language of every message: en, zh (Simplified Chinese) or fr. Default: $HEALTHSILK_LANG, then the system locale, then en.", show_default=False)] = None,
) -> None:
    """healthsilk: patient-owned health records and consent on a permissioned ledger."""
    try:
        set_language(language_from_environment(lang))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lang") from None


app.add_typer(network_app, name="network")
app.add_typer(api_app, name="api")
app.add_typer(wallet_account_app, name="wallet")
app.add_typer(wallet_consent_app, name="consent")
app.add_typer(wallet_records_app, name="records")
app.add_typer(wallet_access_log_app, name="access-log")
app.add_typer(wallet_delegate_app, name="delegate")
app.add_typer(wallet_card_app, name="card")
app.add_typer(wallet_claims_app, name="claims")
app.add_typer(audit_app, name="audit")
app.add_typer(wallet_emergency_app, name="emergency")
app.add_typer(wallet_alerts_app, name="alerts")
app.add_typer(wallet_summary_app, name="summary")
app.add_typer(wallet_cases_app, name="case")
app.add_typer(wallet_prescriptions_app, name="prescriptions")
app.add_typer(staff_rx_app, name="rx")
app.add_typer(wallet_publichealth_app, name="publichealth")
app.add_typer(governance_app, name="governance")
app.add_typer(payer_app, name="payer")


@app.command()
def demo(data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="data dir of the demo network (wiped first)")] = None) -> None:
    """Run the main job: the cross-border story on a fresh local network, narrated and checked."""
    from wallet.demo import run_demo  # imported lazily: the demo pulls in every layer

    raise typer.Exit(run_demo(data_dir))

if __name__ == "__main__":
    app()
