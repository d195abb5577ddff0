"""`healthsilk governance ...`: a governor lists, proposes and approves admissions, suspensions, reactivations and
role changes, signed with the governor's key file after a plain-words summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from i18n import _
from i18n.vocabulary import status_display
from ledger.errors import ContractRevert
from ledger.registry import MemberApplication
from ledger.roles import parse_roles
from wallet import render
from wallet.errors import WalletError
from wallet.governor import (
    Governance,
    governor_sender,
    payload_words,
    proposal_state,
    proposals,
    roles_words,
)
from wallet.options import JsonOpt, YesOpt, friendly

app = typer.Typer(help="Consortium governance for governors: admissions, suspensions, reactivations and roles, by vote.", no_args_is_help=True)

KeyOpt = Annotated[Path, typer.Option("--key", exists=True, dir_okay=False, help="The governor's key file (password: $HEALTHSILK_MEMBER_PASSWORD, else a prompt).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="The network's data dir [default: .healthsilk or $HEALTHSILK_DATA_DIR].", show_default=False)]
MemberArg = Annotated[str, typer.Argument(help="The member: its exact name or its 0x address.", show_default=False)]


def _confirm(question: str) -> bool:
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:  # end of input (e.g. not a terminal)
        return False


def _sign(summary: str, yes: bool) -> None:
    """Show what the governor is about to sign; stop (nothing sent) unless confirmed."""
    render.info(_("[bold]You are about to sign, as a governor:[/] {summary}").format(summary=escape(summary)))
    if not yes and not _confirm(_("Sign and send this?")):
        raise WalletError(_("Nothing was signed."), _("Run the command again and answer yes, or add --yes."), exit_code=1)


def _refused(exc: ContractRevert) -> WalletError:
    return WalletError(_("The registry refused it: {error}.").format(error=exc), _("Nothing was changed; see the proposals with: healthsilk governance list"))


def _proposed(governance: Governance, proposal_id: int, json_output: bool) -> None:
    proposal = governance.registry.proposal(proposal_id)
    quorum = governance.registry.quorum()
    if json_output:
        render.emit_json({"proposal_id": proposal_id, "kind": proposal.kind, "subject": proposal.subject, "approvals": proposal.approvals, "quorum": quorum, "executed": proposal.executed})
        return
    render.out.print(_("Proposal {id} created; {approvals} of {quorum} approvals (other governors approve it with: healthsilk governance approve {id}).").format(
        id=proposal_id, approvals=proposal.approvals, quorum=quorum))


@app.command("list")
@friendly
def list_(
    data_dir: DataDirOpt = None,
    members: Annotated[bool, typer.Option("--members", help="List the members and their roles instead of the proposals.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many of the newest proposals.")] = 20,
    json_output: JsonOpt = False,
) -> None:
    """The newest proposals (what each would do, approvals, open or executed), or the members with --members."""
    governance = Governance.open(data_dir)
    if members:
        directory = governance.registry.directory()
        if json_output:
            render.emit_json([member.model_dump() for member in directory])
            return
        table = Table(title=_("Consortium members"), title_justify="left")
        for column in (_("member"), _("address"), _("country"), _("roles"), _("status")):
            table.add_column(column, overflow="fold")
        for member in directory:
            table.add_row(escape(member.name), member.address, member.country, roles_words(member.roles), status_display(member.status))
        render.out.print(table)
        return
    found = proposals(governance, limit)
    quorum = governance.registry.quorum()
    if json_output:
        render.emit_json([{**proposal.model_dump(), "payload": payload.model_dump(), "words": payload_words(governance, payload), "quorum": quorum} for proposal, payload in found])
        return
    if not found:
        render.out.print(_("No proposal yet."))
        return
    table = Table(title=_("Proposals (newest first); {quorum} approvals execute one").format(quorum=quorum), title_justify="left")
    for column in (_("id"), _("would"), _("proposed by"), _("approvals"), _("state")):
        table.add_column(column, overflow="fold")
    for proposal, payload in found:
        table.add_row(str(proposal.proposal_id), escape(payload_words(governance, payload)), escape(governance.name(proposal.proposer)), f"{proposal.approvals}/{quorum}", proposal_state(governance, proposal))
    render.out.print(table)


@app.command()
@friendly
def propose(
    address: Annotated[str, typer.Option("--address", help="The new member's 0x address (its signing key).")],
    name: Annotated[str, typer.Option("--name", help="The institution's name.")],
    country: Annotated[str, typer.Option("--country", help="ISO 3166 two-letter country code, e.g. KZ.")],
    roles: Annotated[str, typer.Option("--roles", help="Comma-separated: PROVIDER, PAYER, PHARMACY, AUDITOR, EMERGENCY, PRIVACY_OFFICER, PUBLIC_HEALTH, GOVERNOR.")],
    hpke_key: Annotated[str, typer.Option("--hpke-key", help="The member's HPKE public key, 0x-hex (from its key file).")],
    key: KeyOpt,
    endpoint: Annotated[str, typer.Option("--endpoint", help="The member's API address, for key release.")] = "",
    data_dir: DataDirOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Propose admitting a new member (other governors then approve it)."""
    try:
        application = MemberApplication(address=address, name=name, country=country, roles=[part.strip().upper() for part in roles.split(",") if part.strip()], hpke_public_key=hpke_key, endpoint=endpoint)
    except ValueError as exc:
        raise WalletError(_("The application is not valid: {error}").format(error=exc), _("Fix the values and run the command again.")) from None
    governance = Governance.open(data_dir)
    sender = governor_sender(governance, key)
    _sign(_("propose to admit {name} ({country}) at {address} as {roles}, endpoint {endpoint}").format(
        name=application.name, country=application.country, address=application.address, roles=roles_words(application.roles), endpoint=application.endpoint or "-"), yes)
    try:
        proposal_id = governance.registry.propose_admission(sender, application)
    except ContractRevert as exc:
        raise _refused(exc) from None
    _proposed(governance, proposal_id, json_output)


@app.command()
@friendly
def approve(
    proposal_id: Annotated[int, typer.Argument(help="The proposal (see 'healthsilk governance list').", min=1, show_default=False)],
    key: KeyOpt,
    data_dir: DataDirOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Approve a proposal, after reading what it would do."""
    governance = Governance.open(data_dir)
    try:
        proposal = governance.registry.proposal(proposal_id)
        payload = governance.registry.proposal_payload(proposal_id)
    except ContractRevert:
        raise WalletError(_("There is no proposal {id}.").format(id=proposal_id), _("See the proposals with: healthsilk governance list")) from None
    if not governance.registry.is_proposal_open(proposal_id):
        raise WalletError(_("Proposal {id} is {state}: there is nothing to approve.").format(id=proposal_id, state=proposal_state(governance, proposal)), _("See the proposals with: healthsilk governance list"))
    sender = governor_sender(governance, key)
    quorum = governance.registry.quorum()
    _sign(_("approve proposal {id} by {proposer}: {words}; {approvals} of {quorum} approvals so far").format(
        id=proposal_id, proposer=governance.name(proposal.proposer), words=payload_words(governance, payload), approvals=proposal.approvals, quorum=quorum), yes)
    try:
        executed = governance.registry.approve(sender, proposal_id)
    except ContractRevert as exc:
        raise _refused(exc) from None
    after = governance.registry.proposal(proposal_id)
    if json_output:
        render.emit_json({"proposal_id": proposal_id, "approvals": after.approvals, "quorum": quorum, "executed": executed})
        return
    if executed:
        render.out.print(_("Proposal {id} is executed: {words}.").format(id=proposal_id, words=payload_words(governance, payload)))
    else:
        render.out.print(_("Approved; proposal {id} has {approvals} of {quorum} approvals.").format(id=proposal_id, approvals=after.approvals, quorum=quorum))


@app.command()
@friendly
def suspend(
    member: MemberArg,
    reason: Annotated[str, typer.Option("--reason", help="Why, in a few words (it is kept on the ledger).")],
    key: KeyOpt,
    data_dir: DataDirOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Propose suspending a member: once executed it can no longer write, read or relay."""
    governance = Governance.open(data_dir)
    found = governance.member(member)
    sender = governor_sender(governance, key)
    _sign(_("propose to suspend {name} ({address}): it could no longer write, read or relay until reactivated; reason: {reason}").format(
        name=found.name, address=found.address, reason=reason), yes)
    try:
        proposal_id = governance.registry.propose_suspension(sender, found.address, reason)
    except ContractRevert as exc:
        raise _refused(exc) from None
    _proposed(governance, proposal_id, json_output)


@app.command()
@friendly
def reactivate(member: MemberArg, key: KeyOpt, data_dir: DataDirOpt = None, yes: YesOpt = False, json_output: JsonOpt = False) -> None:
    """Propose reactivating a suspended member."""
    governance = Governance.open(data_dir)
    found = governance.member(member)
    sender = governor_sender(governance, key)
    _sign(_("propose to reactivate {name} ({address}), now {status}").format(name=found.name, address=found.address, status=status_display(found.status)), yes)
    try:
        proposal_id = governance.registry.propose_reinstatement(sender, found.address)
    except ContractRevert as exc:
        raise _refused(exc) from None
    _proposed(governance, proposal_id, json_output)


@app.command()
@friendly
def roles(
    member: MemberArg,
    set_roles: Annotated[str | None, typer.Option("--set", help="Propose these roles (comma-separated) in place of the current ones.", show_default=False)] = None,
    key: Annotated[Path | None, typer.Option("--key", exists=True, dir_okay=False, help="The governor's key file (needed with --set).")] = None,
    data_dir: DataDirOpt = None,
    yes: YesOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Show a member's roles, or propose new ones with --set."""
    governance = Governance.open(data_dir)
    found = governance.member(member)
    if set_roles is None:
        if json_output:
            render.emit_json({"address": found.address, "name": found.name, "roles": found.roles, "status": found.status})
        else:
            render.out.print(_("{name} ({address}) has the roles {roles}.").format(name=found.name, address=found.address, roles=roles_words(found.roles)))
        return
    if key is None:
        raise WalletError(_("Proposing roles needs the governor's key file."), _("Add --key FILE."))
    try:
        flags = parse_roles(set_roles)
    except ValueError as exc:
        raise WalletError(str(exc), _("Fix --set and run the command again.")) from None
    wanted = [role.name for role in type(flags) if flags & role]
    sender = governor_sender(governance, key)
    _sign(_("propose to give {name} ({address}) the roles {new} in place of {old}").format(
        name=found.name, address=found.address, new=roles_words(wanted), old=roles_words(found.roles)), yes)
    try:
        proposal_id = governance.registry.propose_role_change(sender, found.address, flags)
    except ContractRevert as exc:
        raise _refused(exc) from None
    _proposed(governance, proposal_id, json_output)
