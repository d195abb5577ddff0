"""brownie run status --network healthsilk-local

Reads the deployed contracts (addresses from the deployments file the migrations wrote, ABIs from brownie's
build of contracts/) through the permissioning gateway and prints the consortium: quorum, governors, members
and open proposals. Read-only: it signs nothing.
"""

from __future__ import annotations

from typing import Any

from brownie import chain

from scripts._healthsilk import STATUS_WORDS, ScriptError, contract, deployed_addresses, role_words, saved_network

PAGE = 50  # members(offset, limit) pages: the registry never returns an unbounded list
RECENT_PROPOSALS = 20
PROPOSAL_KINDS = ("admit", "suspend", "reinstate", "change roles", "rotate keys")
PROPOSAL_STATUS = {1: "pending", 2: "executed"}


def main() -> dict[str, Any]:
    saved = saved_network()
    addresses = deployed_addresses(saved)
    registry = contract("ConsortiumRegistry", addresses["ConsortiumRegistry"])
    print(f"chain {chain.id} at block {chain.height}; contracts: " + ", ".join(f"{name} {address}" for name, address in sorted(addresses.items())))

    count = registry.memberCount()
    members = []
    for offset in range(0, count, PAGE):
        for account in registry.members(offset, PAGE):
            entry = registry.member(account)
            members.append({"account": account, "name": entry["name"], "roles": role_words(entry["roles"]), "status": STATUS_WORDS.get(entry["status"], str(entry["status"]))})
    print(f"consortium: {count} members, {registry.activeGovernorCount()} active governors, quorum {registry.quorum()}")
    for m in members:
        print(f"  {m['account']}  {m['status']:9} {m['roles']:24} {m['name']}")

    proposals = []
    total = registry.proposalCount()
    if total:
        print(f"proposals: {total} (the last {min(total, RECENT_PROPOSALS)} shown)")
    for proposal_id in range(max(1, total - RECENT_PROPOSALS + 1), total + 1):
        kind, subject, _, _, _, approvals, status = registry.proposal(proposal_id)
        words = PROPOSAL_STATUS.get(status, str(status))
        proposals.append({"id": proposal_id, "kind": PROPOSAL_KINDS[kind], "subject": subject, "approvals": approvals, "status": words})
        print(f"  proposal {proposal_id}: {PROPOSAL_KINDS[kind]} {subject}, {approvals} approval(s), {words}")
    return {"members": members, "proposals": proposals, "addresses": addresses}


def deployed() -> dict[str, Any]:
    """The deployed contracts as brownie objects, for the console:
    `from scripts.status import deployed; c = deployed(); c["ConsortiumRegistry"].memberCount()`.
    (Prefer this to `ConsortiumRegistry.at(address)`, which brownie 1.22 cannot record on a live network.)"""
    try:
        return {name: contract(name, address) for name, address in deployed_addresses(saved_network()).items()}
    except ScriptError as refusal:  # a SystemExit, which would close the console
        raise RuntimeError(refusal.code) from None
