"""`healthsilk demo` — the main job, narrated: the cross-border story on a real local network.

Every chapter checks what really happened; the demo exits non-zero as soon as something does not behave.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from i18n import _
from ledger.chain import Ledger
from ledger.errors import LedgerError
from network.launcher import LocalNetwork
from network.processes import ProcessError
from network.settings import NetworkSettings
from wallet.demo.audit import audit_the_ledger
from wallet.demo.care import CrossBorderCare
from wallet.demo.cases import ReferralChapter
from wallet.demo.emergency import EmergencyInAlmaty
from wallet.demo.consortium import FUND, YINCHUAN, Consortium
from wallet.demo.institutions import api_ports_from_env, institution_apis
from wallet.demo.narration import DemoFailure, Narrator
from wallet.demo.payments import ECardPayment
from wallet.demo.prescriptions import PrescriptionChapter
from wallet.demo.publichealth import SurveillanceChapter


def run_demo(data_dir: Path | None = None) -> int:
    console = Console()
    narrator = Narrator(console)
    settings = NetworkSettings(data_dir=data_dir) if data_dir else NetworkSettings()
    ports = api_ports_from_env()
    network = LocalNetwork(settings)
    try:
        consortium = Consortium(network, narrator, ports)
        cast = consortium.found()
        ledger = Ledger.open(settings.gateway_url, settings.deployments_file)
        consortium.admit(ledger, cast)
        consortium.show_permissioning(cast)
        with institution_apis(settings, list(cast.institutions.values()), ports) as apis:
            narrator.say(_("institution APIs: {apis}").format(apis=", ".join(_("{name} at {url}").format(name=name, url=api.url) for name, api in apis.items())))
            care = CrossBorderCare(settings, narrator, apis)
            care.run()
            ECardPayment(narrator, ledger, care, apis[FUND], apis[YINCHUAN]).run()
            care.patient_reviews()
            EmergencyInAlmaty(narrator, ledger, care, apis).run()
            PrescriptionChapter(narrator, ledger, care, apis, cast).run()
            SurveillanceChapter(narrator, ledger, care, apis, settings.root / "demo").run()
            ReferralChapter(narrator, ledger, care, apis).run()
            care.revoke_and_refuse()
        audit_the_ledger(narrator, ledger, settings)
    except (DemoFailure, LedgerError) as failure:
        console.print(_("[bold red]demo failed:[/] {failure}").format(failure=failure))
        return 1
    except ProcessError as failure:
        console.print(_("[bold red]demo failed: a service did not start[/] (is another program using its port? see `healthsilk network status`)") + f"\n{failure}")
        return 1
    console.rule(_("[bold green]the demo ran as expected"))
    console.print(_("The network keeps running under {path}: `healthsilk network status`; stop it with `healthsilk network down`.").format(path=settings.root))
    return 0
