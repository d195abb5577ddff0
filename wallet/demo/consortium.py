"""Chapters 1-3: a consortium is founded, institutions are admitted by vote, the gateway keeps outsiders out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from babel.numbers import format_decimal
from eth_account import Account
from rich.table import Table

from crypto import Identity, create_identity
from i18n import N_, _, quoted
from i18n.formatting import babel_locale
from i18n.vocabulary import joined, role_display
from ledger.chain import Ledger
from ledger.registry import ConsortiumRegistry, MemberApplication
from migrations.genesis import ConsortiumGenesis, GenesisMember
from network.launcher import LocalNetwork
from wallet.demo.narration import Narrator

# Directory states as the registry names them -> what a person reads.
MEMBER_STATUS = {"ACTIVE": N_("active"), "SUSPENDED": N_("suspended"), "REMOVED": N_("removed")}

# Demo identities are throwaway; a cheap scrypt cost keeps the story quick (real wallets use the default).
DEMO_SCRYPT_N = 2**14
DEMO_PASSWORD = "demo-only-password"

GOVERNORS = (("Health Silk Road Secretariat", "CN"), ("Benin Ministry of Health", "BJ"), ("Kazakhstan Ministry of Health", "KZ"))
LOKOSSA = "Lokossa Departmental Hospital"
YINCHUAN = "Yinchuan First People's Hospital"
FUND = "Silk Road Health Fund"
ALMATY = "Almaty City Emergency Hospital"  # the traveller's emergency; a panel consultant in serious cases
PHARMACY_LOKOSSA = "Lokossa Central Pharmacy"
PHARMACY_COTONOU = "Cotonou Pharmacy"  # a second pharmacy, for the refused second fill
SURVEILLANCE = "Silk Road Disease Surveillance Centre"  # the public-health authority
# Every demo institution, in admission order: (name, short name for its API's data dir and port variable, country, roles).
PLAN = (
    (LOKOSSA, "lokossa", "BJ", ["PROVIDER"]),
    (YINCHUAN, "yinchuan", "CN", ["PROVIDER"]),
    (FUND, "fund", "KZ", ["PAYER"]),
    (ALMATY, "almaty", "KZ", ["PROVIDER", "EMERGENCY"]),
    # A pharmacy anchors its MedicationDispense records like a provider (RecordRegistry asks for PROVIDER).
    (PHARMACY_LOKOSSA, "pharmacy-lokossa", "BJ", ["PROVIDER", "PHARMACY"]),
    (PHARMACY_COTONOU, "pharmacy-cotonou", "BJ", ["PROVIDER", "PHARMACY"]),
    (SURVEILLANCE, "surveillance", "CN", ["PUBLIC_HEALTH"]),
)
SLUGS = {name: slug for name, slug, _, _ in PLAN}
# First-level divisions (ISO 3166-2) where the public-health reports place their counts; the registry keeps only countries.
DIVISIONS = {LOKOSSA: "BJ-MO", YINCHUAN: "CN-NX"}
# The governor who also holds the consortium's privacy-officer role (reviews break-glass use).
PRIVACY_OFFICE = GOVERNORS[0][0]


@dataclass
class Institution:
    name: str
    country: str
    roles: list[str]
    endpoint: str
    identity: Identity
    key_file: Path


@dataclass
class Cast:
    governors: list[tuple[str, str, Identity]]
    institutions: dict[str, Institution]


class Consortium:
    def __init__(self, network: LocalNetwork, narrator: Narrator, api_ports: dict[str, int]) -> None:
        self.network = network
        self.settings = network.settings
        self.n = narrator
        self.keys_dir = self.settings.root / "demo" / "keys"
        self.api_ports = api_ports

    def _identity(self, label: str) -> tuple[Identity, Path]:
        key_file, identity = create_identity(DEMO_PASSWORD, scrypt_n=DEMO_SCRYPT_N)
        path = self.keys_dir / f"{label}.json"
        key_file.save(path, overwrite=True)
        return identity, path

    def found(self) -> Cast:
        self.n.chapter(_("A consortium is founded"))
        self.n.say(_("Starting from a clean ledger in {path} (the previous demo's data is wiped).").format(path=self.settings.root))
        self.network.reset()
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        governors = [(name, country, self._identity(f"governor-{country.lower()}")[0]) for name, country in GOVERNORS]
        institutions = {}
        for index, (name, _slug, country, roles) in enumerate(PLAN):
            identity, path = self._identity(f"member-{index}")
            institutions[name] = Institution(name, country, roles, f"http://127.0.0.1:{self.api_ports[name]}", identity, path)
        genesis = ConsortiumGenesis(
            members=[GenesisMember(address=i.address, name=name, country=country, roles=["GOVERNOR", "PRIVACY_OFFICER"] if name == PRIVACY_OFFICE else ["GOVERNOR"],
                                   hpke_public_key=i.hpke_public_key.to_hex()) for name, country, i in governors],
            quorum=2,
        )
        genesis_file = self.settings.root / "demo" / "genesis.json"
        genesis_file.write_text(genesis.model_dump_json(indent=2))
        for name, country, identity in governors:
            self.n.say(_("founding governor [bold]{name}[/] ({country}) {address}").format(name=name, country=country, address=identity.address))
        report = self.network.up(genesis_file)
        for service, seconds in report.started.items():
            if seconds is not None:
                self.n.say(_("{service} ready in {seconds} s").format(service=f"{service:8}", seconds=format_decimal(round(seconds, 2), "0.00", locale=babel_locale())))
            else:
                self.n.say(_("{service} already running").format(service=f"{service:8}"))
        self.n.check("ConsortiumRegistry" in report.deployed, _("the consortium registry was not deployed"))
        self.n.say(_("deployed: {contracts}").format(contracts=", ".join(report.deployed)))
        self.n.say(_("gateway (the only door for clients): {gateway}; IPFS: {ipfs}").format(gateway=self.settings.gateway_url, ipfs=self.settings.ipfs_url))
        return Cast(governors, institutions)

    def admit(self, ledger: Ledger, cast: Cast) -> None:
        self.n.chapter(_("Institutions are admitted by a 2-of-3 governor vote"))
        registry = ConsortiumRegistry(ledger)
        proposer = ledger.sender(cast.governors[0][2].account)
        seconder = ledger.sender(cast.governors[1][2].account)
        for member in cast.institutions.values():
            application = MemberApplication(address=member.identity.address, name=member.name, country=member.country, roles=member.roles, hpke_public_key=member.identity.hpke_public_key.to_bytes(), endpoint=member.endpoint)
            proposal_id = registry.propose_admission(proposer, application)
            self.n.check(registry.member(member.identity.address) is None, _("{name} became a member before the vote reached quorum").format(name=member.name))
            self.n.say(_("proposal #{proposal}: admit [bold]{name}[/] ({country}, {roles}) — 1 of 2 votes ({governor})").format(
                proposal=proposal_id, name=member.name, country=member.country, roles=joined(role_display(member.roles)), governor=cast.governors[0][0]))
            executed = registry.approve(seconder, proposal_id)
            admitted = registry.member(member.identity.address)
            self.n.check(executed and admitted is not None and admitted.active, _("{name} was not admitted after the second vote").format(name=member.name))
            self.n.say(_("proposal #{proposal}: 2 of 2 votes ({governor}) — [green]admitted[/]").format(proposal=proposal_id, governor=cast.governors[1][0]))
        table = Table(_("name"), _("country"), _("roles"), _("status"), _("address"), title=_("the member directory, read from the chain"))
        members = registry.directory()
        for member in members:
            table.add_row(member.name, member.country, joined(role_display(member.roles)), _(MEMBER_STATUS.get(member.status, member.status.lower())), member.address)
        self.n.console.print(table)
        expected = len(GOVERNORS) + len(cast.institutions)
        self.n.check(len(members) == expected, _("expected {expected} members, found {found}").format(expected=expected, found=len(members)))

    def show_permissioning(self, cast: Cast) -> None:
        self.n.chapter(_("The gateway keeps outsiders and operator powers out"))
        url = self.settings.gateway_url
        some_member = next(iter(cast.institutions.values())).identity.address
        # An operator power of the node that runs: rewinding geth's chain, or rewriting a balance on anvil.
        method, params = ("debug_setHead", ["0x1"]) if self.settings.chain_engine == "geth" else ("anvil_setBalance", [some_member, "0x1"])
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        self.n.check("error" in reply, _("the gateway let {method} through").format(method=method))
        # The gateway's own words are quoted as it said them (a JSON-RPC server speaks English to operators).
        self.n.say(_("{method} -> refused: {reason}").format(method=method, reason=quoted(reply["error"]["message"])))
        outsider = Account.create()
        tx = {"to": outsider.address, "value": 0, "gas": 21000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": self.settings.chain_id}
        raw = "0x" + outsider.sign_transaction(tx).raw_transaction.hex()
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]}).json()
        self.n.check("error" in reply and outsider.address in reply["error"]["message"], _("the gateway accepted a non-member's transaction"))
        self.n.say(_("an outsider's signed transaction -> refused: {reason}").format(reason=quoted(reply["error"]["message"])))
