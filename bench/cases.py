"""`python -m bench.cases --json` — referral cases (issue 12): the flow's gas, the first read's latency, a whole case.

Two institution APIs on a throwaway geth sandbox (a requester and a consultant; a second consultant is a member
without an API). Everything goes through the APIs as hospitals would use them; gas is `gasUsed` from the receipts.

- `open_gas`: open a case with 3 attached records and 2 consultants (the ServiceRequest is an ordinary record, its
  anchor is `anchor_gas` like any other); `approve_gas`: the patient's signed approval relayed by the requester;
  `accept_gas`; `answer_gas`: linking the anchored answer to the case (its anchor: `anchor_gas` again); `close_gas`.
  `approve_gas_first_signature`: the patient's very first case signature, which also writes its nonce slot.
- Budget (issue 12): open + approve below one relayed consent grant plus one anchor per consultant, measured in the
  same run (`budget_gas`, `budget_ok`). `per_item_floor_gas` is what storage alone costs per attached record and per
  consultant (one fresh slot each, EIP-2929/2200), the floor of any design that keeps them checkable on chain.
- `first_read_latency_s`: from the consultant's accept answering to its first decrypted attached record (the
  requester's API releases the key by itself after checking the case on chain).
- `case_seconds`: a one-to-one case through the API: open, approve, accept, read, answer, the requester reads the
  answer, close.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from bench.institutions import admit, serve
from bench.network import (
    BenchNetwork,
    exit_cleanly_on_sigterm,
    free_port,
    throwaway_network,
)
from care.cases_fhir import ecg_report, service_request
from crypto import HpkePrivateKey, Identity

FRESH_SLOT_GAS = 22_100  # SSTORE zero -> non-zero with its cold access (EIP-2929)
ECG = {
    "resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
    "subject": {"display": "bench patient"}, "valueSampledData": {"origin": {"value": 0, "unit": "uV"}, "period": 4, "dimensions": 1, "data": " ".join(["1"] * 2500)},
}


def _ok(reply: httpx.Response, status: int = 200) -> Any:
    if reply.status_code != status:
        raise RuntimeError(f"{reply.request.method} {reply.request.url.path}: {reply.status_code} {reply.text[:300]}")
    return reply.json()


class CaseBench:
    def __init__(self, net: BenchNetwork, lokossa: httpx.Client, yinchuan: httpx.Client, addresses: dict[str, str]) -> None:
        self.net = net
        self.w3 = net.ledger().w3
        self.lok = lokossa
        self.yin = yinchuan
        self.addresses = addresses

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def gas_of(self, tx_hash: str) -> int:
        return int(self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])

    def relay(self, patient: Identity, body: dict[str, Any]) -> str:
        typed = _ok(self.lok.post("/v1/consents/prepare", json=body))["typed_data"]
        signature = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
        return str(_ok(self.lok.post("/v1/consents/relay", json={"typed_data": typed, "signature": signature}))["transaction_hash"])

    def patient(self) -> tuple[Identity, int]:
        """A registered patient consenting to Lokossa (ECG, REFERRAL) and to Yinchuan for its answers; returns the
        gas of the last grant (a relayed consent grant: the budget's first term)."""
        patient = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate())
        self.relay(patient, {"action": "register", "patient": patient.address, "hpke_public_key": patient.hpke_public_key.to_hex()})
        now = self.now()
        for grantee, categories in ((self.addresses["lokossa"], ["ECG", "REFERRAL"]), (self.addresses["yinchuan"], ["ECG", "REFERRAL"])):
            tx = self.relay(patient, {"action": "grant", "patient": patient.address, "grantee": grantee, "categories": categories, "purposes": ["TREATMENT"], "valid_from": now - 60, "valid_until": now + 86400})
        return patient, self.gas_of(tx)

    def upload(self, patient: str, index: int = 0) -> tuple[str, int]:
        # Distinct content per record: the record id derives from the payload (a same put is an idempotent retry).
        resource = ECG | {"effectiveDateTime": f"2026-11-{10 + index:02d}T09:30:00+01:00"}
        (uploaded,) = _ok(self.lok.post(f"/v1/patients/{patient}/records", json=resource), 201)
        return str(uploaded["record_id"]), self.gas_of(uploaded["transaction_hash"])

    def approve(self, patient: Identity, case_id: str) -> int:
        base = str(self.lok.base_url)
        with httpx.Client(base_url=base, timeout=60) as anon:
            challenge = _ok(anon.post("/v1/auth/challenge", json={"address": patient.address}))["challenge"]
            signature = patient.account.sign_message(encode_defunct(text=challenge)).signature.to_0x_hex()
            token = _ok(anon.post("/v1/auth/session", json={"address": patient.address, "challenge": challenge, "signature": signature}))["token"]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as wallet:
            typed = _ok(wallet.get(f"/v1/cases/{case_id}/approval", params={"until": self.now() + 7 * 86400}))["typed_data"]
            signature = patient.account.sign_typed_data(full_message=typed).signature.to_0x_hex()
            m = typed["message"]
            return int(_ok(wallet.post(f"/v1/cases/{case_id}/approval", json={"until": m["until"], "nonce": m["nonce"], "deadline": m["deadline"], "signature": signature}))["gas_used"])

    def run(self) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        # Gas: a case with 3 attached records and 2 consultants.
        patient, grant_gas = self.patient()
        # A first case warms the patient's ReferralCases nonce, as the grant baseline's ConsentLedger nonce is warm
        # (registration used it): both sides of the budget then pay the same nonce write.
        warm_up = _ok(self.lok.post("/v1/cases", json={"patient": patient.address, "request": service_request("Warm-up"), "consultants": [self.addresses["almaty"]]}), 201)
        figures["approve_gas_first_signature"] = self.approve(patient, warm_up["case_id"])
        records = [self.upload(patient.address, i) for i in range(3)]
        anchor_gas = records[-1][1]
        body = {"patient": patient.address, "request": service_request("Interpret the three ECGs"), "priority": "URGENT",
                "attached_ids": [r for r, _ in records], "consultants": [self.addresses["yinchuan"], self.addresses["almaty"]]}
        opened = _ok(self.lok.post("/v1/cases", json=body), 201)
        case_id = opened["case_id"]
        figures["open_gas"] = int(opened["gas_used"])
        figures["approve_gas"] = self.approve(patient, case_id)
        figures["accept_gas"] = int(_ok(self.yin.post(f"/v1/cases/{case_id}/accept"))["gas_used"])
        answered = _ok(self.yin.post(f"/v1/cases/{case_id}/answers", json={"resource": ecg_report("Sinus rhythm.", "bench consultant")}), 201)
        figures["answer_gas"] = int(answered["gas_used"])
        figures["close_gas"] = int(_ok(self.lok.post(f"/v1/cases/{case_id}/close"))["gas_used"])
        figures["relayed_grant_gas"] = grant_gas
        figures["anchor_gas"] = anchor_gas
        figures["budget_gas"] = 2 * (grant_gas + anchor_gas)
        figures["open_plus_approve_gas"] = figures["open_gas"] + figures["approve_gas"]
        figures["budget_ok"] = figures["open_plus_approve_gas"] < figures["budget_gas"]
        figures["per_item_floor_gas"] = FRESH_SLOT_GAS

        # Latency and a whole one-to-one case.
        patient, _ = self.patient()
        ecg, _ = self.upload(patient.address)
        started = time.perf_counter()
        one = _ok(self.lok.post("/v1/cases", json={"patient": patient.address, "request": service_request("Interpret this ECG"), "priority": "URGENT", "attached_ids": [ecg], "consultants": [self.addresses["yinchuan"]]}), 201)
        case_id = one["case_id"]
        self.approve(patient, case_id)
        _ok(self.yin.post(f"/v1/cases/{case_id}/accept"))
        accepted = time.perf_counter()
        _ok(self.yin.get(f"/v1/records/{ecg}", params={"flow": "case", "ref": case_id}))
        figures["first_read_latency_s"] = round(time.perf_counter() - accepted, 3)
        answer = _ok(self.yin.post(f"/v1/cases/{case_id}/answers", json={"resource": ecg_report("Sinus rhythm.", "bench consultant")}), 201)
        _ok(self.lok.get(f"/v1/records/{answer['record_id']}", params={"flow": "case", "ref": case_id}))
        _ok(self.lok.post(f"/v1/cases/{case_id}/close"))
        figures["case_seconds"] = round(time.perf_counter() - started, 3)
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    with throwaway_network(engine="geth") as net, tempfile.TemporaryDirectory(prefix="bench-cases-") as tmp:
        root = Path(tmp)
        ports = {"lokossa": free_port(), "yinchuan": free_port()}
        lok_id = admit(net, "cases/lokossa", "Bench Lokossa", "BJ", ["PROVIDER"], f"http://127.0.0.1:{ports['lokossa']}")
        yin_id = admit(net, "cases/yinchuan", "Bench Yinchuan", "CN", ["PROVIDER"], f"http://127.0.0.1:{ports['yinchuan']}")
        alm_id = admit(net, "cases/almaty", "Bench Almaty", "KZ", ["PROVIDER"])
        lok_api = serve(net, lok_id, root / "lokossa", ports["lokossa"])
        yin_api = serve(net, yin_id, root / "yinchuan", ports["yinchuan"])
        try:
            with lok_api.client() as lok, yin_api.client() as yin:
                figures = CaseBench(net, lok, yin, {"lokossa": lok_id.address, "yinchuan": yin_id.address, "almaty": alm_id.address}).run()
        finally:
            yin_api.stop()
            lok_api.stop()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
