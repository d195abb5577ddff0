"""`healthsilk network up | down | status | reset`: the local permissioned network on loopback.

up starts anvil (private port, persisted state), the IPFS node and the permissioning gateway, waits until
each answers, then runs the migrations. Everything it starts is tracked by PID files in the data dir, so
down stops exactly those processes and nothing else.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ledger.chain import connect
from ledger.compile import ensure_built, install_solc
from migrations import MigrationContext, run_migrations
from migrations.genesis import ConsortiumGenesis
from network.chain_state import prepare_state_file
from network.operator import load_or_create_operator
from network.processes import ManagedProcess
from network.settings import LOOPBACK, NetworkSettings


@dataclass
class UpReport:
    """What `up` did: seconds to ready per service (None if it was already running) and new deployments."""

    started: dict[str, float | None] = field(default_factory=dict)
    deployed: list[str] = field(default_factory=list)
    restored_height: int | None = None


def _rpc_ok(url: str, method: str = "eth_chainId") -> bool:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, timeout=2)
    return "result" in reply.json()


class LocalNetwork:
    def __init__(self, settings: NetworkSettings | None = None) -> None:
        self.settings = settings or NetworkSettings()
        s = self.settings
        self.anvil = ManagedProcess("anvil", s.run_dir, s.log_dir)
        self.ipfs = ManagedProcess("ipfs", s.run_dir, s.log_dir)
        self.gateway = ManagedProcess("gateway", s.run_dir, s.log_dir)

    @property
    def genesis_file(self) -> Path:
        return self.settings.root / "genesis.json"

    def up(self, genesis: Path | None = None) -> UpReport:
        s = self.settings
        report = UpReport()
        s.save()
        if genesis is not None:
            shutil.copyfile(genesis, self.genesis_file)
        install_solc()
        ensure_built()
        operator = load_or_create_operator(s.operator_file)

        if self.anvil.pid() is None:
            s.chain_dir.mkdir(parents=True, exist_ok=True)
            report.restored_height = prepare_state_file(s.anvil_state_file, s.durable_state_file)
            self.anvil.start(self._anvil_argv(operator.mnemonic))
            report.started["anvil"] = self.anvil.wait_ready(lambda: _rpc_ok(s.anvil_url))
        else:
            report.started["anvil"] = None

        if self.ipfs.pid() is None:
            self.ipfs.start(["node", str(s.ipfs_server_script), "--repo", str(s.ipfs_repo), "--host", LOOPBACK, "--port", str(s.ipfs_port), "--max-add-bytes", str(s.max_add_bytes)])
            report.started["ipfs"] = self.ipfs.wait_ready(lambda: httpx.post(f"{s.ipfs_url}/api/v0/id", timeout=2).status_code == 200)
        else:
            report.started["ipfs"] = None

        if self.gateway.pid() is None:
            self.gateway.start(
                [sys.executable, "-m", "network.gateway", "--port", str(s.gateway_port), "--upstream", s.anvil_url, "--deployments", str(s.deployments_file), "--durable-state", str(s.durable_state_file), "--max-request-bytes", str(s.max_request_bytes)]
            )
            report.started["gateway"] = self.gateway.wait_ready(lambda: _rpc_ok(s.gateway_url, "eth_chainId"))
        else:
            report.started["gateway"] = None

        genesis_config = ConsortiumGenesis.load(self.genesis_file) if self.genesis_file.exists() else ConsortiumGenesis.operator_only(operator.address)
        context = MigrationContext(w3=connect(s.anvil_url), operator=operator.account, deployments_file=s.deployments_file, genesis=genesis_config)
        report.deployed = run_migrations(context)
        return report

    def down(self) -> list[str]:
        """Stop what `up` started (gateway first, anvil last so it dumps its final state); keeps the data."""
        return [process.name for process in (self.gateway, self.ipfs, self.anvil) if process.stop()]

    def reset(self) -> list[str]:
        stopped = self.down()
        if self.settings.root.exists():
            shutil.rmtree(self.settings.root)
        return stopped

    def status(self) -> dict[str, dict[str, object]]:
        s = self.settings
        urls = {"anvil": s.anvil_url + " (private, operator only)", "gateway": s.gateway_url, "ipfs": s.ipfs_url}
        return {p.name: {"pid": p.pid(), "url": urls[p.name], "log": str(p.log_file)} for p in (self.anvil, self.gateway, self.ipfs)}

    def _anvil_argv(self, mnemonic: str) -> list[str]:
        s = self.settings
        return [
            str(s.anvil_binary),
            "--host", LOOPBACK,
            "--port", str(s.anvil_port),
            "--chain-id", str(s.chain_id),
            "--mnemonic", mnemonic,
            "--accounts", "1",  # only the operator is prefunded
            "--balance", "1000000",
            "--base-fee", str(s.base_fee_wei),
            "--state", str(s.anvil_state_file),
            "--state-interval", str(s.state_interval_seconds),
            "--no-request-size-limit",  # the gateway enforces the client limit; state dumps may be large
        ]

