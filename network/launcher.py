"""`healthsilk network up | down | status | reset`: the local permissioned network on loopback.

up starts the chain node on its private port (geth, durable in its datadir; or anvil, in memory, for tests
that travel in time), Kubo (offline, RPC behind a secret) and the permissioning gateway, waits until each
answers, then runs the migrations, and (unless told not to) starts the supervisor that restarts any of them
that dies (network/supervisor.py). Everything it starts is tracked by PID files in the data dir, so down stops
exactly those processes (the supervisor first) and nothing else.
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
from network.chain_node import chain_node, check_started_chain
from network.ipfs_client import remember_api_secret
from network.kubo import KuboNode
from network.operator import load_or_create_operator
from network.processes import ManagedProcess
from network.settings import NetworkSettings
from network.supervisor import RestartRecord, read_restarts


@dataclass
class UpReport:
    """What `up` did: seconds to ready per service (None if it was already running) and new deployments."""

    started: dict[str, float | None] = field(default_factory=dict)
    deployed: list[str] = field(default_factory=list)
    restored_height: int | None = None
    supervised: bool = False


def _rpc_ok(url: str, method: str = "eth_chainId") -> bool:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, timeout=2)
    return "result" in reply.json()


class LocalNetwork:
    def __init__(self, settings: NetworkSettings | None = None) -> None:
        self.settings = settings or NetworkSettings()
        s = self.settings
        self.chain = ManagedProcess(s.chain_engine, s.run_dir, s.log_dir)  # named "geth" or "anvil"
        self.ipfs = ManagedProcess("ipfs", s.run_dir, s.log_dir)
        self.gateway = ManagedProcess("gateway", s.run_dir, s.log_dir)
        self.supervisor = ManagedProcess("supervisor", s.run_dir, s.log_dir)

    @property
    def components(self) -> tuple[ManagedProcess, ...]:
        return (self.chain, self.ipfs, self.gateway)

    @property
    def genesis_file(self) -> Path:
        return self.settings.root / "genesis.json"

    def up(self, genesis: Path | None = None, supervise: bool = True) -> UpReport:
        """Start what is not running, deploy what is missing; with `supervise`, keep the components running."""
        s = self.settings
        report = UpReport()
        s.save()
        if genesis is not None:
            shutil.copyfile(genesis, self.genesis_file)
        install_solc()
        ensure_built()
        operator = load_or_create_operator(s.operator_file)

        if self.chain.pid() is None:
            node = chain_node(s, operator)
            node.prepare()
            self.chain.start(node.argv())
            report.started[self.chain.name] = self.chain.wait_ready(lambda: _rpc_ok(s.node_url))
            w3 = connect(s.node_url)
            report.restored_height = check_started_chain(s, w3.eth.chain_id, w3.eth.block_number)
        else:
            report.started[self.chain.name] = None

        if self.ipfs.pid() is None:
            kubo = KuboNode(s.ipfs_binary, s.ipfs_repo, s.ipfs_port, s.ipfs_api_secret_file)
            kubo.prepare()
            self.ipfs.start(kubo.argv(), env=kubo.env())
            report.started["ipfs"] = self.ipfs.wait_ready(kubo.ready)
        else:
            report.started["ipfs"] = None
        if (secret := s.ipfs_api_secret) is not None:
            remember_api_secret(s.ipfs_url, secret)  # IpfsClients of this process send it to this Kubo

        if self.gateway.pid() is None:
            self.gateway.start(
                [sys.executable, "-m", "network.gateway", "--port", str(s.gateway_port), "--upstream", s.node_url, "--chain-engine", s.chain_engine, "--operator-file", str(s.operator_file), "--deployments", str(s.deployments_file), "--max-request-bytes", str(s.max_request_bytes)]
            )
            report.started["gateway"] = self.gateway.wait_ready(lambda: _rpc_ok(s.gateway_url, "eth_chainId"))
        else:
            report.started["gateway"] = None

        genesis_config = ConsortiumGenesis.load(self.genesis_file) if self.genesis_file.exists() else ConsortiumGenesis.operator_only(operator.address)
        context = MigrationContext(w3=connect(s.node_url), operator=operator.account, deployments_file=s.deployments_file, genesis=genesis_config)
        report.deployed = run_migrations(context)
        if supervise:
            self.start_supervisor()
        report.supervised = self.supervisor.pid() is not None
        return report

    def start_supervisor(self) -> None:
        if self.supervisor.pid() is None:
            s = self.settings
            argv = [sys.executable, "-m", "network.supervisor", "--run-dir", str(s.run_dir), "--log-dir", str(s.log_dir)]
            self.supervisor.start(argv + [arg for process in self.components for arg in ("--component", process.name)])

    def down(self) -> list[str]:
        """Stop the supervisor (so nothing comes back), then what `up` started, the chain node last; keeps the data."""
        return [process.name for process in (self.supervisor, self.gateway, self.ipfs, self.chain) if process.stop()]

    def reset(self) -> list[str]:
        stopped = self.down()
        if self.settings.root.exists():
            shutil.rmtree(self.settings.root)
        return stopped

    def status(self) -> dict[str, dict[str, object]]:
        """Per process: pid (None when stopped), url, log, and for the components the supervisor's restarts."""
        s = self.settings
        restarts = read_restarts(s.run_dir)
        urls = {self.chain.name: s.node_url + " (private, operator only)", "gateway": s.gateway_url, "ipfs": s.ipfs_url}
        status: dict[str, dict[str, object]] = {
            p.name: {"pid": p.pid(), "url": urls[p.name], "log": str(p.log_file), "restarts": restarts.get(p.name, RestartRecord())} for p in self.components
        }
        status["supervisor"] = {"pid": self.supervisor.pid(), "url": "", "log": str(self.supervisor.log_file), "restarts": None}
        return status
