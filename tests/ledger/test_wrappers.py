"""The typed contract wrappers: a patient signs in the wallet, a member relays, the chain agrees."""

from __future__ import annotations

import hashlib
import os

from eth_account import Account

from ledger.consent import ConsentLedger, ConsentTerms
from ledger.records import NewRecord, RecordRegistry
from ledger.registry import ConsortiumRegistry, MemberApplication
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork, throwaway_account


def test_relayed_grant_and_revoke_round_trip(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    consents = ConsentLedger(ledger)
    relayer = ledger.sender(chain.governors[0])
    patient = Account.create()
    grantee = chain.governors[1].address
    now = ledger.w3.eth.get_block("latest")["timestamp"]
    terms = ConsentTerms(grantee=grantee, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600)

    message = consents.grant_message(patient.address, terms, deadline=now + 600)
    assert message.recover(message.sign(patient)) == patient.address
    consent_id = consents.relay(relayer, message, message.sign(patient))
    assert consent_id is not None and len(consent_id) == 32
    assert consents.is_permitted(patient.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT))
    assert not consents.is_permitted(patient.address, grantee, Category.LAB.bit, int(Purpose.TREATMENT))
    assert consents.consent(patient.address, grantee).categories == ["ECG"]

    revoke = consents.revoke_message(patient.address, grantee, deadline=now + 600)
    consents.relay(relayer, revoke, revoke.sign(patient))
    assert consents.consent(patient.address, grantee).status == "REVOKED"
    assert not consents.is_permitted(patient.address, grantee, Category.ECG.bit, int(Purpose.TREATMENT))


def test_anchor_under_consent_and_log_access(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    registry = ConsortiumRegistry(ledger)
    hospital = throwaway_account("wrapper-hospital")
    proposal = registry.propose_admission(ledger.sender(chain.governors[0]), MemberApplication(address=hospital.address, name="Lokossa", country="BJ", roles=["PROVIDER"], hpke_public_key=b"\x01" * 33))
    registry.approve(ledger.sender(chain.governors[1]), proposal)
    consents, records = ConsentLedger(ledger), RecordRegistry(ledger)
    patient = Account.create()
    now = ledger.w3.eth.get_block("latest")["timestamp"]
    grant = consents.grant_message(patient.address, ConsentTerms(grantee=hospital.address, categories=Category.ECG.bit, purposes=int(Purpose.TREATMENT), valid_from=now - 60, valid_until=now + 3600), deadline=now + 600)
    consents.relay(ledger.sender(chain.governors[0]), grant, grant.sign(patient))

    ciphertext = os.urandom(100)
    record = NewRecord(record_id=os.urandom(32), patient=patient.address, category=Category.ECG, content_hash=hashlib.sha256(ciphertext).digest(), cid=b"\x01\x55" + os.urandom(34))
    anchor = records.anchor(ledger.sender(hospital), record)
    assert anchor.author == hospital.address and anchor.content_hash == record.content_hash
    assert records.find_anchor(record.record_id) == anchor
    state = records.state(record.record_id)
    assert state is not None and state.patient == patient.address and not state.erased
    records.log_access(ledger.sender(hospital), [record.record_id], Purpose.TREATMENT)
    (access,) = records.accesses_of(patient.address)
    assert access.reader == hospital.address and access.record_ids == [record.record_id]
