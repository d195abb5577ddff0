"""`python -m bench.publichealth --json` — public-health reporting figures.

- `build_seconds_10000` / `build_seconds_100000` and their ratio: building one weekly report from that many decrypted
  records already in memory (FHIR case extraction for every record, counting the week's cases, suppression with the
  linear disclosure check, the MeasureReport and its canonical bytes). IPFS fetch and decryption are excluded: the
  service caches decrypted cases per record, so a weekly rebuild opens only the new records (see bench.records for
  the per-record read cost). The ratio should be about 10 (linear).
- `report_anchor_gas` (a first report, no alert), `report_with_alert_gas` (with one rule alert), `correction_gas`,
  `alert_gas` (raised by hand), `acknowledge_gas`: `gasUsed` on a throwaway anvil network.
- `dashboard_seconds`: the PUBLIC_HEALTH member's dashboard over 52 weeks x 10 members (520 sealed reports, each
  fetched from IPFS, checked against its anchor and opened with the member's key).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from bench.network import bench_account, exit_cleanly_on_sigterm, throwaway_network
from care.publichealth import synthetic
from care.publichealth.cases import case_of
from care.publichealth.measure import encode, measure_report
from care.publichealth.service import BuiltReport, PublicHealthService, dashboard_of
from care.publichealth.suppression import full_table, suppress
from crypto import HpkePrivateKey, Identity
from ledger.publichealth import (
    PublicHealthReports,
    iso_week,
    previous_weeks,
    week_start,
)
from ledger.registry import ConsortiumRegistry, MemberApplication
from records.clients import RecordClients

MEMBERS, WEEKS = 10, 52


def synthetic_records(count: int, weeks: list[int], seed: int = 7) -> list[dict[str, Any]]:
    """`count` FHIR resources over `weeks`: malaria, cholera, dengue, measles, negative smears and other diagnoses."""
    rng = random.Random(seed)
    makers = [
        lambda t, s, y: synthetic.malaria(t, s, y),
        lambda t, s, y: synthetic.malaria_smear(t, s, y),
        lambda t, s, y: synthetic.malaria_smear(t, s, y, positive=False),
        lambda t, s, y: synthetic.cholera(t, s, y),
        lambda t, s, y: synthetic.condition("A90", "Dengue fever", t, s, y),
        lambda t, s, y: synthetic.condition("B05.9", "Measles without complication", t, s, y),
        lambda t, s, y: synthetic.condition("I10", "Essential (primary) hypertension", t, s, y),
        lambda t, s, y: synthetic.condition("E11.9", "Type 2 diabetes mellitus without complications", t, s, y),
    ]
    out = []
    for _ in range(count):
        when = week_start(rng.choice(weeks)) + rng.randrange(7 * 86400)
        out.append(rng.choice(makers)(when, rng.choice(["female", "male"]), rng.randrange(1930, 2025)))
    return out


def build_once(resources: list[dict[str, Any]], week: int) -> bytes:
    counts: dict[tuple[str, str, str, str], int] = {}
    for resource in resources:
        found = case_of(resource, 0)
        if found is not None and found[1] == week:
            disease, _week, age, sex = found
            key = (disease.code, "BJ-MO", age, sex)
            counts[key] = counts.get(key, 0) + 1
    return encode(measure_report("0x" + "11" * 20, week, suppress(counts, 5)))


def build_figures(now: int) -> dict[str, Any]:
    weeks = previous_weeks(iso_week(now), WEEKS)
    figures: dict[str, Any] = {}
    for count in (10_000, 100_000):
        resources = synthetic_records(count, weeks)
        started = time.perf_counter()
        build_once(resources, weeks[-1])
        figures[f"build_seconds_{count}"] = round(time.perf_counter() - started, 4)
    figures["build_ratio_100000_to_10000"] = round(figures["build_seconds_100000"] / figures["build_seconds_10000"], 2)
    return figures


class _BenchService(PublicHealthService):
    """The service with its weekly totals taken from the bench's generated counts (it has no records of its own),
    so the above-baseline rule judges the same numbers it reports."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: dict[tuple[str, int], int] = {}

    def _weekly_totals(self, weeks: list[int]) -> dict[tuple[str, int], int]:
        return {key: v for key, v in self.history.items() if key[1] in set(weeks)}


def _identity(label: str) -> Identity:
    return Identity(account=bench_account(f"publichealth/{label}"), hpke_key=HpkePrivateKey.generate())


def chain_figures() -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with throwaway_network("healthsilk-bench-publichealth") as net:
        ledger = net.ledger()
        registry = ConsortiumRegistry(ledger)
        g0, g1 = ledger.sender(net.governors[0]), ledger.sender(net.governors[1])
        ministry = _identity("ministry")
        members = [_identity(f"member-{i}") for i in range(MEMBERS)]
        for i, (ident, roles) in enumerate([(ministry, ["PUBLIC_HEALTH"])] + [(m, ["PROVIDER"]) for m in members]):
            country = "CN" if i % 2 else "BJ"
            app = MemberApplication(address=ident.address, name=f"Bench member {i}", country=country, roles=roles, hpke_public_key=ident.hpke_public_key.to_bytes())
            registry.approve(g1, registry.propose_admission(g0, app))
        services = [_BenchService(m, RecordClients.open(ledger, net.settings.ipfs_url), ledger.sender(m.account)) for m in members]
        reader = PublicHealthService(ministry, RecordClients.open(ledger, net.settings.ipfs_url), ledger.sender(ministry.account))
        now = int(ledger.w3.eth.get_block("latest")["timestamp"])
        weeks = previous_weeks(iso_week(now), WEEKS - 1) + [iso_week(now)]
        rng = random.Random(11)
        gas: dict[str, list[int]] = {"report_anchor_gas": [], "report_with_alert_gas": []}
        for week in weeks:
            for service in services:
                region = service.region()
                counts = {(d, region, a, s): rng.choice([0, 0, 1, 2, 5, 8, 13])
                          for d in ("B50", "A90") for a in ("0-4", "15-24", "25-44", "65+") for s in ("female", "male")}
                if week == weeks[-1] and service is services[0]:
                    counts[("A00", region, "25-44", "male")] = 1  # one cholera case: a rule alert in the same call
                for (d, _r, _a, _s), v in counts.items():
                    service.history[(d, week)] = service.history.get((d, week), 0) + v
                published = suppress(counts, 5)
                built = BuiltReport(week=week, region=region, published=published, report=measure_report(service.address, week, published), counts=full_table(counts))
                sent = service.anchor(built)
                receipt = ledger.w3.eth.get_transaction_receipt(sent.anchored.transaction_hash)
                gas["report_with_alert_gas" if sent.alerts else "report_anchor_gas"].append(int(receipt["gasUsed"]))
        figures["report_anchor_gas"] = int(statistics.median(gas["report_anchor_gas"])) if gas["report_anchor_gas"] else None
        figures["report_with_alert_gas"] = int(statistics.median(gas["report_with_alert_gas"])) if gas["report_with_alert_gas"] else None
        figures["reports_anchored"], figures["reports_with_rule_alerts"] = sum(len(v) for v in gas.values()), len(gas["report_with_alert_gas"])
        service = services[1]
        correction = service.submit(weeks[-1], correction=True)
        figures["correction_gas"] = int(ledger.w3.eth.get_transaction_receipt(correction.anchored.transaction_hash)["gasUsed"])
        ph = PublicHealthReports(ledger)
        alert = ph.raise_alert(reader.sender, "A00", "BJ", "MO", weeks[-1], 3)
        figures["alert_gas"] = int(ledger.w3.eth.get_transaction_receipt(alert.transaction_hash)["gasUsed"])
        tx = ph.acknowledge(services[2].sender, alert.alert_id)
        figures["acknowledge_gas"] = int(ledger.w3.eth.get_transaction_receipt(tx)["gasUsed"])
        started = time.perf_counter()
        board = dashboard_of(reader, weeks[0], weeks[-1])
        figures["dashboard_seconds"] = round(time.perf_counter() - started, 3)
        figures["dashboard_reports_read"] = MEMBERS * WEEKS - sum(len(m.missing) for m in board.members)
        figures["dashboard_unreadable"] = len(board.unreadable)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    figures = chain_figures()
    figures |= build_figures(int(time.time()))  # a bench, not a test: the wall clock only dates synthetic records
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
