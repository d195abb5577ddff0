"""`healthsilk demo` — the main job, narrated: the cross-border story on a real local network.

Every chapter checks what really happened; the demo exits non-zero as soon as something does not behave.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ledger.chain import Ledger
from ledger.errors import LedgerError
from network.launcher import LocalNetwork
from network.processes import ProcessError
from network.settings import NetworkSettings
from wallet.demo.audit import audit_the_ledger
from wallet.demo.care import CrossBorderCare
from wallet.demo.consortium import FUND, YINCHUAN, Consortium
from wallet.demo.institutions import api_ports_from_env, institution_apis
from wallet.demo.narration import DemoFailure, Narrator
from wallet.demo.payments import ECardPayment


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
            narrator.say("institution APIs: " + ", ".join(f"{name} at {api.url}" for name, api in apis.items()))
            care = CrossBorderCare(settings, narrator, apis)
            care.run()
            ECardPayment(narrator, ledger, care, apis[FUND], apis[YINCHUAN]).run()
            care.patient_reviews()
            care.revoke_and_refuse()
        audit_the_ledger(narrator, ledger, settings)
    except (DemoFailure, LedgerError) as failure:
        console.print(f"[bold red]demo failed:[/] {failure}")
        return 1
    except ProcessError as failure:
        console.print(f"[bold red]demo failed: a service did not start[/] (is another program using its port? see `healthsilk network status`)\n{failure}")
        return 1
    console.rule("[bold green]the demo ran as expected")
    console.print(f"The network keeps running under {settings.root}: `healthsilk network status`; stop it with `healthsilk network down`.")
    return 0
