"""`python -m bench.prescriptions --json` — e-prescription gas and dispense decisions per second (issue 14).

Two institution APIs on a throwaway geth sandbox: a prescriber and a pharmacy (PROVIDER + PHARMACY), plus a payer
that runs a programme with the patient's e-card. Each round: a new patient consents, the prescriber issues through
its API, the patient's signed presentation is relayed by the pharmacy's API, the pharmacy dispenses and claims the
dispense on the card. Gas is read from the receipts of those transactions (averaged over rounds):
issue_gas, present_gas (relayed), dispense_gas (budget 60,000), claim_gas. `dispense_decisions_per_s` is how many
`GET /v1/prescriptions/{id}/verify` (the contract's `dispenseStatus` view behind the API) one client gets answered
per second, sequentially, over `--seconds`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from bench.institutions import admit, admit_and_serve, emit, ok
from bench.network import BenchNetwork, exit_cleanly_on_sigterm, throwaway_network
from crypto import HpkePrivateKey, Identity
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.payments import HealthCardPayments, NewProgramme
from ledger.vocabulary import Category, Purpose

DISPENSE_BUDGET = 60_000
REQUEST = {
    "resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/example"},
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197361", "display": "Amlodipine 5 MG"}]},
}


def _dispense(n: int) -> dict[str, Any]:
    return {"resourceType": "MedicationDispense", "status": "completed", "subject": {"reference": "Patient/example"},
            "medicationCodeableConcept": REQUEST["medicationCodeableConcept"], "quantity": {"value": 30 + n, "unit": "tablet"}}


def _gas(net: BenchNetwork, event: str, **indexed: Any) -> int:
    ledger = net.ledger()
    found = ledger.events("Prescriptions", event, **indexed)
    return int(ledger.w3.eth.get_transaction_receipt(found[-1].transaction_hash)["gasUsed"])


def run(rounds: int, seconds: float) -> dict[str, Any]:
    with throwaway_network(engine="geth") as net, tempfile.TemporaryDirectory(prefix="healthsilk-bench-rx-") as tmp:
        root = Path(tmp)
        prescriber, p_api = admit_and_serve(net, "prescriptions/prescriber", "Bench Prescriber", "CN", ["PROVIDER"], root / "prescriber")
        pharmacy, f_api = admit_and_serve(net, "prescriptions/pharmacy", "Bench Pharmacy", "BJ", ["PROVIDER", "PHARMACY"], root / "pharmacy")
        payer = admit(net, "prescriptions/payer", "Bench Fund", "BJ", ["PAYER"])
        p, f = p_api.client(), f_api.client()
        ledger = net.ledger()
        consents, payments = ConsentLedger(ledger), HealthCardPayments(ledger)
        fund = ledger.sender(payer.account)
        programme = payments.create_programme(fund, NewProgramme(name="Bench pharmacy cover", currency="XOF", default_annual_limit=10_000_000))
        payments.fund_escrow(fund, programme, 10_000_000)
        payments.set_empanelled(fund, programme, pharmacy.address)
        gas: dict[str, list[int]] = {"issue_gas": [], "present_gas": [], "dispense_gas": [], "claim_gas": []}
        decisions, elapsed = 0, 0.0
        try:
            relayer = ledger.sender(prescriber.account)
            for n in range(rounds):
                patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
                now = int(ledger.w3.eth.get_block("latest")["timestamp"])
                register = consents.register_message(patient.address, patient.hpke_public_key.to_bytes(), deadline=now + 600)
                consents.relay(relayer, register, register.sign(patient.account))
                for grantee, category, purposes in ((prescriber, Category.PRESCRIPTION, Purpose.TREATMENT), (pharmacy, Category.DISPENSE, Purpose.TREATMENT | Purpose.PAYMENT)):
                    terms = ConsentTerms(grantee=grantee.address, categories=category.bit, purposes=int(purposes), valid_from=now - 60, valid_until=now + 86400)
                    message = consents.grant_message(patient.address, terms, deadline=now + 600)
                    consents.relay(relayer, message, message.sign(patient.account))
                card = payments.issue_card(fund, programme, patient.address, valid_until=now + 365 * 86400)
                issued = ok(p.post("/v1/prescriptions", json={"patient": patient.address, "medication_request": REQUEST, "valid_until": now + 86400, "repeats": 1}), 201)
                pid = issued["state"]["prescription_id"]
                ref = bytes.fromhex(pid[2:])
                gas["issue_gas"].append(_gas(net, "PrescriptionIssued", prescriptionId=ref))
                typed = ok(f.post(f"/v1/prescriptions/{pid}/presentation/prepare", json={"pharmacy": pharmacy.address, "signer": patient.address}))["typed_data"]
                signature = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
                ok(f.post(f"/v1/prescriptions/{pid}/presentation", json={"typed_data": typed, "signature": signature}))
                gas["present_gas"].append(_gas(net, "PrescriptionPresented", prescriptionId=ref))
                done = ok(f.post(f"/v1/prescriptions/{pid}/dispenses", json={"medication_dispense": _dispense(n)}), 201)
                gas["dispense_gas"].append(_gas(net, "PrescriptionDispensed", prescriptionId=ref))
                claim = ok(f.post("/v1/payments/claims", json={"card_id": card, "record_id": done["dispense"]["record_id"], "package_code": "PHARMACY", "amount": 4_500}), 201)
                submitted = [e for e in ledger.events("HealthCardPayments", "ClaimSubmitted") if int(e.args["claimId"]) == int(claim["claim_id"])]
                gas["claim_gas"].append(int(ledger.w3.eth.get_transaction_receipt(submitted[-1].transaction_hash)["gasUsed"]))
            started = time.perf_counter()
            while (elapsed := time.perf_counter() - started) < seconds:
                ok(f.get(f"/v1/prescriptions/{pid}/verify"))
                decisions += 1
        finally:
            for client, served in ((f, f_api), (p, p_api)):
                client.close()
                served.stop()
    result: dict[str, Any] = {
        "bench": "prescriptions", "network": "geth sandbox (--dev.period 0), in-process API servers", "rounds": rounds,
        **{key: round(sum(values) / len(values)) for key, values in gas.items() if values},
        "dispense_budget_gas": DISPENSE_BUDGET,
        "dispense_decisions_per_s": round(decisions / elapsed, 1) if elapsed else 0.0,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
    }
    result["dispense_within_budget"] = result.get("dispense_gas", 0) <= DISPENSE_BUDGET
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=3, help="patients, each with one prescription dispensed and claimed")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to ask for dispense decisions")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    result = run(max(1, args.rounds), max(0.5, args.seconds))
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
