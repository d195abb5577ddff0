"""A governor at the consortium registry: the network's ledger, the governor's key, and proposals in plain words.

Governance has no institution API (a governor votes as itself, not through an institution), so these commands
talk to the network's permissioning gateway directly, like `healthsilk audit`, and sign each transaction with the
governor's key file. Every proposal and vote is shown in words, from the chain's own state, before it is signed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from crypto import CryptoError, load
from i18n import _
from i18n.formatting import datetime_text
from i18n.vocabulary import role_display
from ledger.chain import Ledger
from ledger.errors import ContractRevert
from ledger.registry import ConsortiumRegistry, Member, Proposal, ProposalPayload
from ledger.transactions import TransactionSender
from network.settings import NetworkSettings
from wallet.errors import WalletError

PASSWORD_ENV = "HEALTHSILK_MEMBER_PASSWORD"  # the same variable `healthsilk api serve` reads


@dataclass
class Governance:
    ledger: Ledger
    registry: ConsortiumRegistry

    @classmethod
    def open(cls, data_dir: Path | None) -> Governance:
        settings = NetworkSettings.load(data_dir)
        try:
            ledger = Ledger.open(settings.gateway_url, settings.deployments_file)
            registry = ConsortiumRegistry(ledger)
            registry.quorum()  # one read now, so an unreachable network is said here and not mid-command
        except (OSError, ValueError, LookupError) as exc:
            raise WalletError(
                _("Cannot reach the network's registry at {gateway} ({error}).").format(gateway=settings.gateway_url, error=exc),
                _("Start the network with `healthsilk network up`, or point --data-dir (or $HEALTHSILK_DATA_DIR) at the network you mean."),
            ) from None
        return cls(ledger, registry)

    def member(self, name_or_address: str) -> Member:
        try:
            found = self.registry.find(name_or_address)
        except ValueError as exc:
            raise WalletError(str(exc), _("Give the member's exact name or its 0x address.")) from None
        if found is None:
            raise WalletError(_("No consortium member is called {member}.").format(member=name_or_address), _("See the members with: healthsilk governance list --members"))
        return found

    def name(self, address: str) -> str:
        member = self.registry.member(address)
        return _("{name} ({address})").format(name=member.name, address=address) if member else address


def governor_sender(governance: Governance, key: Path) -> TransactionSender:
    """The governor's transaction sender, from its key file (password: $HEALTHSILK_MEMBER_PASSWORD or a prompt)."""
    password = os.environ.get(PASSWORD_ENV) or typer.prompt(_("governor key password"), hide_input=True, err=True)
    try:
        identity = load(key, password)
    except (CryptoError, OSError, ValueError) as exc:
        raise WalletError(_("Cannot open the key file {key}: {error}.").format(key=key, error=exc), _("Check the file and its password ($HEALTHSILK_MEMBER_PASSWORD).")) from None
    if not governance.registry.has_active_role(_governor_role(), identity.address):
        raise WalletError(
            _("{address} is not an active governor of this consortium.").format(address=identity.address),
            _("Only governors vote; use a governor's key file with --key."),
        )
    return governance.ledger.sender(identity.account)


def _governor_role() -> Any:
    from ledger.roles import Role

    return Role.GOVERNOR


def roles_words(roles: list[str] | None) -> str:
    return ", ".join(role_display(roles or [])) or _("no role")


def payload_words(governance: Governance, payload: ProposalPayload) -> str:
    """What a proposal would do, in one sentence."""
    subject = governance.name(payload.subject)
    if payload.kind == "ADMIT":
        return _("admit {name} ({country}) at {address} as {roles}, endpoint {endpoint}").format(
            name=payload.name, country=payload.country, address=payload.subject, roles=roles_words(payload.roles), endpoint=payload.endpoint or "-"
        )
    if payload.kind == "SUSPEND":
        return _("suspend {member}: it can no longer write, read or relay until reactivated (reason: {reason})").format(member=subject, reason=payload.reason or "-")
    if payload.kind == "REINSTATE":
        return _("reactivate {member}").format(member=subject)
    if payload.kind == "CHANGE_ROLES":
        return _("give {member} the roles {roles} (replacing its current ones)").format(member=subject, roles=roles_words(payload.roles))
    if payload.kind == "ROTATE_KEYS":
        return _("rotate the encryption key of {member} and set its endpoint to {endpoint}").format(member=subject, endpoint=payload.endpoint or "-")
    return f"{payload.kind} {subject}"


def proposal_state(governance: Governance, proposal: Proposal) -> str:
    if proposal.executed:
        return _("executed")
    if governance.registry.is_proposal_open(proposal.proposal_id):
        return _("open until {when}").format(when=datetime_text(proposal.expires_at))
    return _("expired")


def proposals(governance: Governance, limit: int) -> list[tuple[Proposal, ProposalPayload]]:
    """The newest `limit` proposals, newest first (ids run from 1 to proposalCount)."""
    count = int(governance.registry.contract.functions.proposalCount().call())
    found = []
    for proposal_id in range(count, max(count - limit, 0), -1):
        try:
            found.append((governance.registry.proposal(proposal_id), governance.registry.proposal_payload(proposal_id)))
        except ContractRevert:  # ids are dense, but a registry that numbers from 0 answers UnknownProposal for one end
            continue
    return found
