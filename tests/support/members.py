"""Members for tests, admitted once per network by a 2-of-3 governor vote, with a real HPKE key.

On geth nothing is reverted between tests, so admitting the same deterministic account twice would be refused
(MemberAlreadyExists); on anvil a revert may have removed an earlier admission. `admit_member` therefore admits
only when the chain says the account is not an active member, and hands back the same identity (the same HPKE
key the registry holds) every time it is asked for the same label on the same network.
"""

from __future__ import annotations

from crypto import HpkePrivateKey, Identity
from ledger.registry import ConsortiumRegistry, MemberApplication
from network.sandbox import Sandbox, deterministic_account

_identities: dict[tuple[str, str], Identity] = {}


def admit_member(net: Sandbox, label: str, name: str, country: str, roles: list[str], endpoint: str = "") -> Identity:
    key = (str(net.settings.root), label)
    identity = _identities.setdefault(key, Identity(account=deterministic_account(f"healthsilk-test/{label}"), hpke_key=HpkePrivateKey.generate()))
    ledger = net.ledger()
    registry = ConsortiumRegistry(ledger)
    if registry.is_active(identity.address):
        return identity
    application = MemberApplication(address=identity.address, name=name, country=country, roles=roles, hpke_public_key=identity.hpke_public_key.to_bytes(), endpoint=endpoint)
    proposal = registry.propose_admission(ledger.sender(net.governors[0]), application)
    registry.approve(ledger.sender(net.governors[1]), proposal)
    return identity
