"""`python -m bench.gas --json` — gas used per operation on the real contracts, next to the issue budgets.

Each figure is `gasUsed` from a receipt on a throwaway local network. Per-record / per-entry figures divide the whole
transaction by the number of records, so they include the fixed 21,000 base cost share.

`single_anchor` is an author's usual record; `single_anchor_first_by_author` is its very first record anchored on
its own, which also writes the author's index (once per provider, see RecordRegistry's notes on authors).

Access log: `access_log_batch_*` is `logAccessBatch`, the API's group commit (packed entries, a refused entry is
skipped); `access_log_all_or_nothing_per_entry_100` is `recordsAccessed`; `access_log_single` is `recordAccessed`.
`access_log_floor_per_entry_100` is what any on-chain check of 100 reads of records anchored on their own must pay
per entry (see `access_log_floor`): the cold read of the record's word, the entry's calldata, its id in the log and
a hundredth of the transaction's base cost.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.logs import DISCARD

from bench.network import BenchNetwork, bench_account, throwaway_network
from ledger.chain import Ledger
from ledger.consent import ConsentLedger, ConsentTerms
from ledger.merkle import BatchRecord, RecordBatch
from ledger.payments import HealthCardPayments, NewProgramme, code32
from ledger.records import pack_access_entries
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.transactions import TransactionSender
from ledger.vocabulary import Category, Purpose

BUDGETS = {
    "relayed_grant": 60_000,
    "single_anchor": 55_000,
    "batch_anchor_per_record_256": 3_000,
    "access_log_batch_per_entry_100": 2_000,
}
ALL_CATEGORIES = (1 << len(Category)) - 1
# EIP-2929 / EIP-2028 / yellow paper prices behind the access-log floor.
COLD_SLOAD, CALLDATA_NONZERO, CALLDATA_ZERO, LOG_DATA_BYTE, TX_BASE = 2_100, 16, 4, 8, 21_000


def access_log_floor(entry_bytes: bytes, entries: int) -> dict[str, int]:
    """Gas any contract must spend per logged read of a record anchored on its own, for `entries` reads per
    transaction: the entry's calldata (`entry_bytes`, as sent), one cold storage read of the record's word (its
    patient, category, time and erasure flag are needed to check consent), its 32-byte id in the log, and its
    share of the transaction base cost."""
    calldata = sum(CALLDATA_NONZERO if byte else CALLDATA_ZERO for byte in entry_bytes)
    parts = {"cold_sload_record_word": COLD_SLOAD, "calldata_entry": calldata, "log_data_record_id": 32 * LOG_DATA_BYTE, "base_share": TX_BASE // entries}
    return parts | {"total": sum(parts.values())}


def _cid() -> bytes:
    return b"\x01\x55\x12\x20" + os.urandom(32)  # CIDv1 raw sha2-256


class GasBench:
    def __init__(self, net: BenchNetwork) -> None:
        self.net = net
        self.ledger: Ledger = net.ledger()
        self.operator_ledger: Ledger = net.ledger(operator=True)
        self.governor = self.ledger.sender(net.governors[0])
        self.registry = ConsortiumRegistry(self.ledger)
        self.consents = ConsentLedger(self.ledger)
        self.records = self.ledger.contract("RecordRegistry")
        self.gas: dict[str, int | float] = {}
        self.floor: dict[str, int] = {}
        self.now = int(time.time())

    def terms(self, grantee: str) -> ConsentTerms:
        return ConsentTerms(grantee=grantee, categories=ALL_CATEGORIES, purposes=int(Purpose.TREATMENT), valid_from=self.now - 3600, valid_until=self.now + 30 * 86400)

    def admit_provider(self, label: str) -> TransactionSender:
        account = bench_account(label)
        application = MemberApplication(address=account.address, name=label, country="CN", roles=["PROVIDER"], hpke_public_key=b"\x01" * 33)
        propose = self.governor.transact(self.registry.contract.functions.proposeAdmission(application.as_tuple()))
        proposal_id = self.registry.contract.events.ProposalCreated().process_receipt(propose, errors=DISCARD)[0]["args"]["proposalId"]
        approve = self.ledger.sender(self.net.governors[1]).transact(self.registry.contract.functions.approve(proposal_id))
        self.gas.setdefault("registry_propose_admission", propose["gasUsed"])
        self.gas.setdefault("registry_approve_and_admit", approve["gasUsed"])
        return self.ledger.sender(account)

    def relay(self, message: Any, signer: LocalAccount) -> int:
        """Relay a signed message through the gateway; returns gasUsed."""
        m = message.message
        functions = self.consents.contract.functions
        signature = message.sign(signer)
        if message.primary_type == "GrantConsent":
            terms = (m["grantee"], m["categories"], m["purposes"], m["validFrom"], m["validUntil"], m["dataFrom"], m["dataUntil"])
            call = functions.grantConsentBySig(m["patient"], terms, m["nonce"], m["deadline"], signature)
        elif message.primary_type == "RevokeConsent":
            call = functions.revokeConsentBySig(m["patient"], m["grantee"], m["nonce"], m["deadline"], signature)
        else:
            call = functions.registerPatientBySig(m["patient"], m["hpkePublicKey"], m["nonce"], m["deadline"], signature)
        return int(self.governor.transact(call)["gasUsed"])

    def consent_operations(self, provider: TransactionSender) -> list[LocalAccount]:
        deadline = self.now + 3600
        relayed_patient, direct_patient = Account.create(), Account.create()
        self.gas["patient_registration_relayed"] = self.relay(self.consents.register_message(relayed_patient.address, b"\x01" + os.urandom(32), deadline), relayed_patient)
        self.gas["relayed_grant_first"] = self.relay(self.consents.grant_message(relayed_patient.address, self.terms(provider.address), deadline), relayed_patient)
        self.gas["relayed_grant"] = self.relay(self.consents.grant_message(relayed_patient.address, self.terms(provider.address), deadline), relayed_patient)
        self.gas["relayed_revoke"] = self.relay(self.consents.revoke_message(relayed_patient.address, provider.address, deadline), relayed_patient)
        self.gas["relayed_grant_after_revoke"] = self.relay(self.consents.grant_message(relayed_patient.address, self.terms(provider.address), deadline), relayed_patient)

        # Direct sends by a patient: the gateway admits only members, so these go to the operator's private port
        # (the contract path and its gas are what is measured here).
        self.net.operator_w3.provider.make_request("anvil_setBalance", [direct_patient.address, hex(10**18)])  # type: ignore[arg-type]
        patient = self.operator_ledger.sender(direct_patient)
        direct = self.operator_ledger.contract("ConsentLedger").functions
        self.gas["patient_registration_direct"] = patient.transact(direct.registerPatient(b"\x01" + os.urandom(32)))["gasUsed"]
        self.gas["direct_grant_first"] = patient.transact(direct.grantConsent(direct_patient.address, self.terms(provider.address).as_tuple()))["gasUsed"]
        self.gas["direct_grant"] = patient.transact(direct.grantConsent(direct_patient.address, self.terms(provider.address).as_tuple()))["gasUsed"]
        self.gas["direct_revoke"] = patient.transact(direct.revokeConsent(direct_patient.address, provider.address))["gasUsed"]
        patient.transact(direct.grantConsent(direct_patient.address, self.terms(provider.address).as_tuple()))
        return [relayed_patient, direct_patient]

    def record_operations(self, provider: TransactionSender, patients: list[LocalAccount]) -> None:
        patient = patients[0].address
        record_ids = []
        for label in ("single_anchor_first_by_author", "single_anchor"):
            record_id = os.urandom(32)
            receipt = provider.transact(self.records.functions.anchorRecord((record_id, patient, int(Category.ECG), os.urandom(32), _cid(), b"\x00" * 32)))
            self.gas[label] = receipt["gasUsed"]
            record_ids.append(record_id)
        superseding = provider.transact(self.records.functions.anchorRecord((os.urandom(32), patient, int(Category.ECG), os.urandom(32), _cid(), record_ids[0])))
        self.gas["single_anchor_superseding"] = superseding["gasUsed"]

        for size in (1, 16, 256):
            # Entries grouped by patient, as the record service submits them (one consent read per run of a patient).
            owners = [patients[i * len(patients) // size].address for i in range(size)]
            batch = RecordBatch([BatchRecord(os.urandom(32), owner, int(Category.LAB), os.urandom(32), _cid()) for owner in owners])
            receipt = provider.transact(self.records.functions.anchorBatch(batch.entries(), _cid()))
            self.gas[f"batch_anchor_per_record_{size}"] = round(receipt["gasUsed"] / size)

        self.gas["access_log_single"] = provider.transact(self.records.functions.recordAccessed(record_ids[0], int(Purpose.TREATMENT)))["gasUsed"]
        many = []
        for _ in range(100):
            record_id = os.urandom(32)
            many.append(self.records.functions.anchorRecord((record_id, patient, int(Category.LAB), os.urandom(32), _cid(), b"\x00" * 32)))
            record_ids.append(record_id)
        provider.transact_many(many)
        hundred = record_ids[-100:]
        receipt = provider.transact(self.records.functions.recordsAccessed(hundred, int(Purpose.TREATMENT)))
        self.gas["access_log_all_or_nothing_per_entry_100"] = round(receipt["gasUsed"] / 100)
        packed = pack_access_entries([(record_id, Purpose.TREATMENT) for record_id in hundred])
        receipt = provider.transact(self.records.functions.logAccessBatch(packed))
        self.gas["access_log_batch_per_entry_100"] = round(receipt["gasUsed"] / 100)
        single = pack_access_entries([(record_ids[0], Purpose.TREATMENT)])
        self.gas["access_log_batch_single"] = provider.transact(self.records.functions.logAccessBatch(single))["gasUsed"]
        floor = access_log_floor(packed[: len(packed) // 100], 100)  # the first entry's bytes stand for all (random ids)
        self.floor = floor
        self.gas["access_log_floor_per_entry_100"] = floor["total"]

    def admit_payer(self, label: str) -> TransactionSender:
        account = bench_account(label)
        application = MemberApplication(address=account.address, name=label, country="KZ", roles=["PAYER"], hpke_public_key=b"\x01" * 33)
        proposal_id = self.registry.propose_admission(self.governor, application)
        self.registry.approve(self.ledger.sender(self.net.governors[1]), proposal_id)
        return self.ledger.sender(account)

    def payment_operations(self, provider: TransactionSender, patient: LocalAccount) -> None:
        """E-card payments: a payer programme and card, escrow, pre-authorisation, claim, relayed confirmation, payment."""
        payments = HealthCardPayments(self.ledger)
        payer = self.admit_payer("bench-payer")
        chain_now = int(self.ledger.w3.eth.get_block("latest")["timestamp"])
        gas = lambda receipt: int(receipt["gasUsed"])  # noqa: E731
        functions = payments.contract.functions
        send = payments.send
        programme = NewProgramme(name="Bench cross-border care", currency="KZT", default_annual_limit=1_000_000, auto_approval_threshold=200_000, pre_auth_validity=7 * 86400)
        receipt = send(payer, functions.createProgramme(programme.name, b"KZT", programme.default_annual_limit, programme.auto_approval_threshold, programme.pre_auth_validity))
        self.gas["payments_create_programme"] = gas(receipt)
        programme_id = payments.programme_count()
        self.gas["payments_empanel_provider"] = gas(send(payer, functions.setProviderEmpanelled(programme_id, provider.address, True)))
        self.gas["payments_issue_card"] = gas(send(payer, functions.issueCard(programme_id, patient.address, 0, chain_now + 365 * 86400)))
        card_id = payments.card_of(programme_id, patient.address)
        self.gas["payments_fund_escrow_first"] = gas(send(payer, functions.fundEscrow(programme_id, 1_000_000)))
        self.gas["payments_fund_escrow"] = gas(send(payer, functions.fundEscrow(programme_id, 500_000)))

        auto = send(provider, functions.requestPreAuth(card_id, code32("ECG"), 150_000))
        self.gas["payments_pre_auth_request_auto_approved"] = gas(auto)
        pending = send(provider, functions.requestPreAuth(card_id, code32("CARDIO-CONSULT"), 300_000))
        self.gas["payments_pre_auth_request"] = gas(pending)
        pending_id = payments.pre_auth_count()
        self.gas["payments_pre_auth_approve"] = gas(send(payer, functions.approvePreAuth(pending_id, chain_now + 7 * 86400)))

        records = []
        for _ in range(2):
            record_id = os.urandom(32)
            provider.transact(self.records.functions.anchorRecord((record_id, patient.address, int(Category.ECG), os.urandom(32), _cid(), b"\x00" * 32)))
            records.append(record_id)
        self.gas["payments_claim_submit_with_pre_auth"] = gas(send(provider, functions.submitClaim(card_id, records[0], code32("CARDIO-CONSULT"), 280_000, pending_id)))
        with_pre_auth = payments.claim_count()
        self.gas["payments_claim_submit"] = gas(send(provider, functions.submitClaim(card_id, records[1], code32("LAB"), 20_000, 0)))
        without_pre_auth = payments.claim_count()

        message = payments.confirmation_message(with_pre_auth, deadline=chain_now + 3600)
        m = message.message
        relayed = send(self.governor, functions.confirmClaimBySig(with_pre_auth, m["nonce"], m["deadline"], message.sign(patient)))
        self.gas["payments_claim_confirm_relayed"] = gas(relayed)
        self.gas["payments_claim_approve_and_pay"] = gas(send(payer, functions.approveClaim(with_pre_auth, False)))
        self.gas["payments_claim_approve_and_pay_override"] = gas(send(payer, functions.approveClaim(without_pre_auth, True)))
        self.gas["payments_cash_disbursement"] = gas(send(payer, functions.disburseCash(card_id, code32("TRAVEL"), 10_000)))

    def run(self) -> dict[str, Any]:
        provider = self.admit_provider("bench-hospital")
        patients = self.consent_operations(provider)
        self.record_operations(provider, patients)
        self.payment_operations(provider, patients[0])
        return {
            "benchmark": "gas",
            "unit": "gas per operation (receipt gasUsed); *_per_record / *_per_entry divide the whole transaction",
            "operations": self.gas,
            "access_log_floor": self.floor,
            "budgets": BUDGETS,
            "within_budget": {name: self.gas[name] <= budget for name, budget in BUDGETS.items()},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object (the default output is a table)")
    args = parser.parse_args()
    with throwaway_network() as net:
        result = GasBench(net).run()
    if args.json:
        print(json.dumps(result))
    else:
        for name, gas in result["operations"].items():
            budget = BUDGETS.get(name)
            print(f"{name:40} {gas:>12,}" + (f"   budget {budget:,} {'ok' if gas <= budget else 'OVER'}" if budget else ""))


if __name__ == "__main__":
    main()
