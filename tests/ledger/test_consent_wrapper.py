"""The typed ConsentLedger wrapper: a patient signs in the wallet, a member relays, the chain agrees."""

from __future__ import annotations

import time

from eth_account import Account

from ledger.consent import ConsentLedger, ConsentTerms
from ledger.vocabulary import Category, Purpose
from tests.conftest import RunningNetwork


def test_relayed_grant_and_revoke_round_trip(chain: RunningNetwork) -> None:
    ledger = chain.ledger()
    consents = ConsentLedger(ledger)
    relayer = ledger.sender(chain.governors[0])
    patient = Account.create()
    grantee = chain.governors[1].address
    now = int(time.time())
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
