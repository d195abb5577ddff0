"""geth (go-ethereum) as the local chain node: a durable dev-mode datadir and the command line that runs it.

`GethNode.prepare()` makes the datadir once: a genesis with the project's chain id that prefunds the
operator and the gateway's funding account, the operator's key in geth's keystore with a random password
file (0600), then `geth init`. `argv()` runs `--dev` on that datadir: geth keeps a stored genesis when it
is merged at genesis (terminalTotalDifficulty 0, difficulty 0), seals a block per transaction
(`--dev.period 0`) and unlocks the operator as the dev account (fee recipient).

Choices measured on v1.17.10 with `kill -9` right after the last receipt (network/README.md has the numbers):
- `--db.engine leveldb`: geth runs pebble with NoSync writes, and pebble keeps the WAL's current 32 KiB block
  in the process until it fills, so kill -9 lost the last 4-5 blocks even seconds after their receipts.
  goleveldb hands every write batch to the OS, and lost nothing.
- `--state.scheme hash --gcmode archive`: every block's state is written with the block. With the default
  path scheme the recent state lives in memory, and after kill -9 geth rewound the chain to genesis.
Neither engine fsyncs each block, so a power cut (not a process crash) can still lose the newest blocks.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from network.operator import Operator
from network.processes import ProcessError
from network.settings import LOOPBACK

OPERATOR_BALANCE_WEI = 1_000_000 * 10**18  # what anvil's `--balance 1000000` gives the operator
FUNDING_BALANCE_WEI = 1_000_000_000 * 10**18  # ten million top-ups of 100 ETH
# geth's dev genesis also schedules its in-development fork after Osaka; the local chain runs released rules only.
UNRELEASED_FORKS = ("bogotaTime",)
# The node's own RPC: reads, sends, and the operator's inspection namespaces. Never admin_/personal_/miner_/dev_.
HTTP_APIS = "eth,net,web3,debug,txpool"
INIT_MARKER = "healthsilk-initialised"


class GethError(ProcessError):
    """geth is missing or its datadir could not be prepared; the message says what to do."""


@dataclass(frozen=True)
class GethNode:
    binary: Path
    datadir: Path
    chain_id: int
    http_port: int
    operator: Operator
    gas_limit: int
    base_fee_wei: int
    cache_mb: int

    @property
    def genesis_file(self) -> Path:
        return self.datadir / "genesis.json"

    @property
    def password_file(self) -> Path:
        return self.datadir / "password"

    @property
    def keystore_dir(self) -> Path:
        return self.datadir / "keystore"

    def prepare(self) -> None:
        """Create what the datadir lacks (idempotent); a datadir that already holds a chain is left as it is."""
        if not os.access(self.binary, os.X_OK):
            raise GethError(f"geth is not built at {self.binary}: run `bash network/engines/build.sh geth` (or `make build`)")
        try:
            self.datadir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.datadir, 0o700)  # keystore and password live here
        except OSError as exc:
            raise GethError(f"cannot prepare the chain's datadir {self.datadir}: {exc.strerror} (is its disk full or mounted read-only?)") from None
        fresh_password = not self.password_file.exists()
        password = self._password()
        self._keystore(password, replace=fresh_password)
        if not (self.datadir / INIT_MARKER).exists():
            if not self.genesis_file.exists():
                _write_private(self.genesis_file, json.dumps(self._genesis(), indent=1))
            # Re-running init on a stored, identical genesis is a no-op, so an interrupted first init is simply redone.
            self._geth("init", "--datadir", str(self.datadir), *self._storage_flags(), str(self.genesis_file))
            (self.datadir / INIT_MARKER).touch()

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            "--dev",
            "--dev.period", "0",  # seal a block as soon as a transaction is pending
            "--datadir", str(self.datadir),
            *self._storage_flags(),
            "--gcmode", "archive",
            "--networkid", str(self.chain_id),  # net_version = chain id (dev mode would say 1337)
            "--miner.pending.feeRecipient", self.operator.address,  # pins the dev account to the operator's key
            "--password", str(self.password_file),
            "--miner.gaslimit", str(self.gas_limit),
            "--http", "--http.addr", LOOPBACK, "--http.port", str(self.http_port), "--http.api", HTTP_APIS,
            # Dev mode registers no engine API, so geth opens no auth port; port 0 could never clash if it did.
            "--authrpc.addr", LOOPBACK, "--authrpc.port", "0",
            "--ipcdisable",
            # Dev mode already has no p2p listener and dials nothing; say so anyway, and never ask a router (UPnP).
            "--nodiscover", "--maxpeers", "0", "--nat", "none",
            "--rpc.txfeecap", "0",  # no fee cap, as on anvil: the same transactions pass on both
            "--cache", str(self.cache_mb),
            "--verbosity", "2",  # warnings and errors; info logs five lines per block
        ]

    def _storage_flags(self) -> list[str]:
        return ["--db.engine", "leveldb", "--state.scheme", "hash"]

    def _password(self) -> str:
        if not self.password_file.exists():
            _write_private(self.password_file, secrets.token_hex(32) + "\n")
        return self.password_file.read_text().splitlines()[0]

    def _keystore(self, password: str, replace: bool) -> None:
        """The operator's key in geth's keystore (geth unlocks it as the dev account); written once, and again
        under a new password (a key file the password no longer opens would stop geth at start)."""
        address = self.operator.address.lower().removeprefix("0x")
        self.keystore_dir.mkdir(mode=0o700, exist_ok=True)
        existing = [path for path in self.keystore_dir.iterdir() if path.name.endswith(address)]
        if existing and not replace:
            return
        for path in existing:
            path.unlink()
        # A light scrypt: the password sits next to the key and operator.json holds the mnemonic in clear anyway.
        keyfile = Account.encrypt(self.operator.account.key, password, kdf="scrypt", iterations=2**12)
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
        _write_private(self.keystore_dir / f"UTC--{stamp}.000000000Z--{address}", json.dumps(keyfile))

    def _genesis(self) -> dict[str, Any]:
        """geth's own dev genesis (it carries the system contracts this geth version needs), made ours."""
        genesis = json.loads(self._geth("--dev", "dumpgenesis"))
        config = genesis["config"]
        config["chainId"] = self.chain_id
        for fork in UNRELEASED_FORKS:
            config.pop(fork, None)
        if config.get("terminalTotalDifficulty") != 0 or int(genesis["difficulty"], 16) != 0:
            raise GethError("geth's dev genesis is not merged at genesis; dev mode would refuse it")
        genesis["gasLimit"] = hex(self.gas_limit)
        genesis["baseFeePerGas"] = hex(self.base_fee_wei)
        genesis["timestamp"] = hex(int(time.time()))  # the chain starts now, as anvil's does
        genesis["alloc"][self.operator.address] = {"balance": hex(OPERATOR_BALANCE_WEI)}
        genesis["alloc"][self.operator.funding_account.address] = {"balance": hex(FUNDING_BALANCE_WEI)}
        return genesis

    def _geth(self, *args: str) -> str:
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0:
            raise GethError(f"`geth {' '.join(args[:1])}` failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return result.stdout


def _write_private(path: Path, text: str) -> None:
    """Atomic write readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
