"""`python -m bench.emergency --json` — break-glass key release latency and the flow's gas (issue 13).

Two institution APIs on a throwaway geth sandbox: the hospital authors a patient's allergy, medication and ECG; the
ambulance (EMERGENCY) breaks the glass over HTTP and reads. `key_release_latency_s` is the wall time from sending
the break-glass to the first decrypted record in the ambulance's hands (the hospital's API re-wraps the key by
itself after checking `mayRead` on chain). Target: 5 s or less. Gas: break-glass, one logged read, the review
(direct by a privacy officer, and relayed from the patient's signature).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak

from bench.institutions import admit, admit_and_serve, emit, ok
from bench.network import exit_cleanly_on_sigterm, throwaway_network
from crypto import HpkePrivateKey, Identity
from ledger.emergency import BreakGlassLedger

TARGET_S = 5.0
ALLERGY = {
    "resourceType": "AllergyIntolerance", "type": "allergy", "category": ["medication"], "criticality": "high",
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005", "display": "Allergy to penicillin"}]}, "patient": {"reference": "Patient/example"},
}
MEDICATION = {"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": {"text": "Amlodipine 5 mg"}, "subject": {"reference": "Patient/example"}}
ECG = {
    "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
    "subject": {"reference": "Patient/example"}, "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": " ".join(["1"] * 2500)},
}


def _relay(client: httpx.Client, signer: Identity, body: dict[str, Any]) -> None:
    typed = ok(client.post("/v1/consents/prepare", json=body))["typed_data"]
    ok(client.post("/v1/consents/relay", json={"typed_data": typed, "signature": signer.account.sign_typed_data(full_message=typed).signature.to_0x_hex()}))


def run(rounds: int) -> dict[str, Any]:
    with throwaway_network(engine="geth") as net, tempfile.TemporaryDirectory(prefix="healthsilk-bench-emergency-") as tmp:
        root = Path(tmp)
        hospital, h_api = admit_and_serve(net, "emergency/hospital", "Bench Hospital", "BJ", ["PROVIDER"], root / "hospital")
        _ambulance, a_api = admit_and_serve(net, "emergency/ambulance", "Bench Ambulance", "KZ", ["PROVIDER", "EMERGENCY"], root / "ambulance")
        officer = admit(net, "emergency/officer", "Bench Privacy Office", "CN", ["PRIVACY_OFFICER"])
        ledger = net.ledger()
        bg = BreakGlassLedger(ledger)
        latencies: list[float] = []
        gas: dict[str, list[int]] = {"break_glass_gas": [], "read_gas": [], "review_gas": [], "review_by_signature_gas": []}
        try:
            with h_api.client() as h, a_api.client() as a:
                for n in range(rounds):
                    patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
                    _relay(h, patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
                    now = int(ledger.w3.eth.get_block("latest")["timestamp"])
                    _relay(h, patient, {"action": "grant", "patient": patient.address, "grantee": hospital.address, "categories": ["ALLERGIES", "MEDICATIONS", "ECG"],
                                        "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 3600})
                    ids = [ok(h.post(f"/v1/patients/{patient.address}/records", json=r), 201)[0]["record_id"] for r in (ALLERGY, MEDICATION, ECG)]
                    started = time.perf_counter()
                    view = ok(a.post("/v1/emergency/break-glass", json={"patient": patient.address, "reason_code": "ETREAT", "reason": "bench"}), 201)
                    ok(a.get(f"/v1/records/{ids[0]}", params={"flow": "emergency", "ref": view["id"]}))
                    latencies.append(time.perf_counter() - started)
                    ref = bytes.fromhex(view["id"][2:])
                    opened = next(o for o in bg.opened(patient=patient.address) if o.id == ref)
                    gas["break_glass_gas"].append(int(ledger.w3.eth.get_transaction_receipt(opened.transaction_hash)["gasUsed"]))
                    read = next(iter(ledger.events("BreakGlass", "CareRecordsAccessed", ref=ref)))
                    gas["read_gas"].append(int(ledger.w3.eth.get_transaction_receipt(read.transaction_hash)["gasUsed"]))
                    if n % 2 == 0:
                        receipt = bg.review(bg.sender(officer.account), ref, True, keccak(text="bench"))
                        gas["review_gas"].append(int(receipt["gasUsed"]))
                    else:
                        message = bg.review_message(ref, True, keccak(text="bench"), patient.address, deadline=now + 3600)
                        receipt = bg.relay_review(bg.sender(hospital.account), message, message.sign(patient.account))
                        gas["review_by_signature_gas"].append(int(receipt["gasUsed"]))
        finally:
            a_api.stop()
            h_api.stop()
    latencies.sort()
    result: dict[str, Any] = {
        "bench": "emergency", "network": "geth sandbox (--dev.period 0), two API processes' worth of in-process servers", "rounds": rounds,
        "key_release_latency_s": round(latencies[len(latencies) // 2], 3), "key_release_latency_max_s": round(latencies[-1], 3),
        "target_s": TARGET_S, "met": latencies[len(latencies) // 2] <= TARGET_S,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
    }
    for key, values in gas.items():
        if values:
            result[key] = round(sum(values) / len(values))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=4, help="patients, each with one break-glass")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    result = run(max(2, args.rounds))
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
