"""`healthsilk demo` — the main job, narrated: a cross-border consortium comes to life on a real local network.

Every step checks what the ledger really did; the demo exits non-zero as soon as something does not behave.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_account import Account
from rich.console import Console
from rich.table import Table

from crypto import Identity, create_identity
from ledger.chain import Ledger
from ledger.errors import LedgerError
from ledger.registry import ConsortiumRegistry, MemberApplication
from migrations.genesis import ConsortiumGenesis, GenesisMember
from network.launcher import LocalNetwork
from network.settings import NetworkSettings

# Demo identities are throwaway; a cheap scrypt cost keeps the story quick (real wallets use the default).
DEMO_SCRYPT_N = 2**14
DEMO_PASSWORD = "demo-only-password"

GOVERNORS = (("Health Silk Road Secretariat", "CN"), ("Benin Ministry of Health", "BJ"), ("Kazakhstan Ministry of Health", "KZ"))
INSTITUTIONS = (
    ("Lokossa Departmental Hospital", "BJ", ["PROVIDER"], "http://127.0.0.1:8701"),
    ("Yinchuan First People's Hospital", "CN", ["PROVIDER"], "http://127.0.0.1:8702"),
    ("Silk Road Health Fund", "KZ", ["PAYER"], ""),
)


class DemoFailure(RuntimeError):
    """A step of the story did not behave."""


@dataclass
class Cast:
    governors: list[tuple[str, str, Identity]]
    institutions: list[tuple[str, str, list[str], str, Identity]]


class Demo:
    def __init__(self, settings: NetworkSettings, console: Console) -> None:
        self.settings = settings
        self.console = console
        self.network = LocalNetwork(settings)
        self.keys_dir = settings.root / "demo" / "keys"

    def step(self, title: str) -> None:
        self.console.rule(f"[bold cyan]{title}")

    def check(self, condition: bool, failure: str) -> None:
        if not condition:
            raise DemoFailure(failure)

    def _identity(self, label: str) -> Identity:
        key_file, identity = create_identity(DEMO_PASSWORD, scrypt_n=DEMO_SCRYPT_N)
        key_file.save(self.keys_dir / f"{label}.json", overwrite=True)
        return identity

    def run(self) -> None:
        cast = self.bootstrap()
        ledger = Ledger.open(self.settings.gateway_url, self.settings.deployments_file)
        registry = ConsortiumRegistry(ledger)
        self.admit_members(ledger, registry, cast)
        self.show_directory(registry)
        self.show_permissioning(cast)

    def bootstrap(self) -> Cast:
        self.step("1. A consortium is founded")
        self.console.print(f"Starting from a clean ledger in {self.settings.root} (the previous demo's data is wiped).")
        self.network.reset()
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        governors = [(name, country, self._identity(f"governor-{country.lower()}")) for name, country in GOVERNORS]
        institutions = [(name, country, roles, endpoint, self._identity(f"member-{index}")) for index, (name, country, roles, endpoint) in enumerate(INSTITUTIONS)]
        genesis = ConsortiumGenesis(
            members=[
                GenesisMember(address=identity.address, name=name, country=country, roles=["GOVERNOR"], hpke_public_key=identity.hpke_public_key.to_hex())
                for name, country, identity in governors
            ],
            quorum=2,
        )
        genesis_file = self.settings.root / "demo" / "genesis.json"
        genesis_file.write_text(genesis.model_dump_json(indent=2))
        for name, country, identity in governors:
            self.console.print(f"  founding governor [bold]{name}[/] ({country}) {identity.address}")
        report = self.network.up(genesis_file)
        for service, seconds in report.started.items():
            self.console.print(f"  {service:8} ready in {seconds:.2f}s" if seconds is not None else f"  {service:8} already running")
        self.check("ConsortiumRegistry" in report.deployed, "the consortium registry was not deployed")
        self.console.print(f"  gateway (the only door for clients): {self.settings.gateway_url}; IPFS: {self.settings.ipfs_url}")
        return Cast(governors, institutions)

    def admit_members(self, ledger: Ledger, registry: ConsortiumRegistry, cast: Cast) -> None:
        self.step("2. Institutions are admitted by a 2-of-3 governor vote")
        proposer = ledger.sender(cast.governors[0][2].account)
        seconder = ledger.sender(cast.governors[1][2].account)
        for name, country, roles, endpoint, identity in cast.institutions:
            application = MemberApplication(address=identity.address, name=name, country=country, roles=roles, hpke_public_key=identity.hpke_public_key.to_bytes(), endpoint=endpoint)
            proposal_id = registry.propose_admission(proposer, application)
            self.check(registry.member(identity.address) is None, f"{name} became a member before the vote reached quorum")
            self.console.print(f"  proposal #{proposal_id}: admit [bold]{name}[/] ({country}, {', '.join(roles)}) — 1 of 2 votes ({cast.governors[0][0]})")
            executed = registry.approve(seconder, proposal_id)
            member = registry.member(identity.address)
            self.check(executed and member is not None and member.active, f"{name} was not admitted after the second vote")
            self.console.print(f"  proposal #{proposal_id}: 2 of 2 votes ({cast.governors[1][0]}) — [green]admitted[/]")

    def show_directory(self, registry: ConsortiumRegistry) -> None:
        self.step("3. The member directory, read from the chain")
        table = Table("name", "country", "roles", "status", "address")
        members = registry.directory()
        for member in members:
            table.add_row(member.name, member.country, ", ".join(member.roles), member.status.lower(), member.address)
        self.console.print(table)
        self.check(len(members) == len(GOVERNORS) + len(INSTITUTIONS), f"expected {len(GOVERNORS) + len(INSTITUTIONS)} members, found {len(members)}")

    def show_permissioning(self, cast: Cast) -> None:
        self.step("4. The gateway keeps outsiders and operator powers out")
        url = self.settings.gateway_url
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance", "params": [cast.institutions[0][4].address, "0x1"]}).json()
        self.check("error" in reply, "the gateway let anvil_setBalance through")
        self.console.print(f"  anvil_setBalance  -> refused: {reply['error']['message']}")
        outsider = Account.create()
        tx = {"to": outsider.address, "value": 0, "gas": 21000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": self.settings.chain_id}
        raw = "0x" + outsider.sign_transaction(tx).raw_transaction.hex()
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]}).json()
        self.check("error" in reply and outsider.address in reply["error"]["message"], "the gateway accepted a non-member's transaction")
        self.console.print(f"  outsider's signed transaction -> refused: {reply['error']['message']}")


def run_demo(data_dir: Path | None = None) -> int:
    console = Console()
    settings = NetworkSettings(data_dir=data_dir) if data_dir else NetworkSettings()
    try:
        Demo(settings, console).run()
    except (DemoFailure, LedgerError) as failure:
        console.print(f"[bold red]demo failed:[/] {failure}")
        return 1
    console.rule("[bold green]the demo ran as expected")
    console.print(f"The network keeps running: `healthsilk network status`; stop it with `healthsilk network down`.")
    return 0
