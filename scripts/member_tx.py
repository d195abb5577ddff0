"""brownie run member_tx [main | propose KEY_FILE NAME COUNTRY [ROLES] [ENDPOINT] | approve ID] --network healthsilk-local

A consortium member's transactions, signed by brownie on this machine and sent through the permissioning gateway
(eth_sendRawTransaction; the gateway lets them in because the sender is an active member). The member is the key
file in $HEALTHSILK_MEMBER_KEY (password: $HEALTHSILK_MEMBER_PASSWORD, else a prompt); without it, the network's
operator, who governs alone a network started without a genesis.

  main         the member sends a plain transaction (no value, to itself); then a stranger tries the same and
               the gateway refuses it
  propose ...  a governor proposes admitting the institution whose key file is given (its address and HPKE public
               key are public fields of the file: no password needed), e.g.
               `brownie run member_tx propose clinic.json "Almaty Clinic" KZ PROVIDER --network healthsilk-local`
  approve ID   a governor approves proposal ID; at quorum it executes in the same transaction
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from brownie import accounts
from eth_account import Account

from scripts._healthsilk import ROLE_NAMES, STATUS_WORDS, ScriptError, member_account, read_key_file, registry, role_words, saved_network


def _signer() -> tuple[Any, Any]:
    saved = saved_network()
    reg = registry(saved)
    member = member_account(saved)
    entry = reg.member(member.address)
    print(f"signing as {member.address}: {entry['name'] or '(no entry)'}, {role_words(entry['roles'])}, {STATUS_WORDS.get(entry['status'], entry['status'])}")
    return reg, member


def main() -> dict[str, Any]:
    _, member = _signer()
    tx = member.transfer(member, 0)
    print(f"member's transaction {tx.txid}: mined in block {tx.block_number} (status {tx.status})")
    stranger = accounts.add("0x" + bytes(Account.create().key).hex())  # a fresh key nobody admitted
    try:
        stranger.transfer(stranger, 0)
    except Exception as refusal:  # noqa: BLE001 - brownie raises the gateway's JSON-RPC error as it comes
        print(f"stranger {stranger.address}: refused by the gateway: {refusal}")
    else:
        raise ScriptError(f"the gateway let the transaction of non-member {stranger.address} through")
    finally:
        accounts.remove(stranger)
    return {"member_tx": tx.txid, "block": tx.block_number}


def _role_flags(roles: str) -> int:
    flags = 0
    for name in (part.strip().upper() for part in roles.split(",") if part.strip()):
        if name not in ROLE_NAMES:
            raise ScriptError(f"unknown role {name!r}; choose from {', '.join(ROLE_NAMES)}")
        flags |= 1 << ROLE_NAMES.index(name)
    if not flags:
        raise ScriptError("give at least one role, e.g. PROVIDER")
    return flags


def propose(key_file: str, name: str, country: str, roles: str = "PROVIDER", endpoint: str = "") -> dict[str, Any]:
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ScriptError(f"country must be an ISO 3166-1 alpha-2 code such as KZ, not {country!r}")
    flags = _role_flags(roles)
    document = read_key_file(Path(key_file))
    reg, governor = _signer()
    applicant = document["address"]
    member_input = (applicant, name, country.encode(), flags, bytes.fromhex(document["hpke_public_key"].removeprefix("0x")), endpoint)
    tx = reg.proposeAdmission(member_input, {"from": governor})
    proposal_id = int(tx.events["ProposalCreated"]["proposalId"])
    executed = "ProposalExecuted" in tx.events
    print(f"proposal {proposal_id}: admit {applicant} ({name}, {country}, {role_words(flags)}), tx {tx.txid}; " + ("executed (quorum reached)" if executed else f"waiting for {reg.quorum() - 1} more approval(s)"))
    return {"proposal_id": proposal_id, "executed": executed}


def approve(proposal_id: str) -> dict[str, Any]:
    reg, governor = _signer()
    tx = reg.approve(int(proposal_id), {"from": governor})
    approvals = int(tx.events["ProposalApproved"]["approvals"])
    executed = "ProposalExecuted" in tx.events
    print(f"proposal {proposal_id}: approved ({approvals} approval(s)), tx {tx.txid}; " + ("executed" if executed else "still pending"))
    return {"proposal_id": int(proposal_id), "executed": executed}
