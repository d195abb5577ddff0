"""Validator node keys: deterministic TEST-ONLY keys, random throwaway keys, or public keys from enode URLs.

A Besu node's address (its validator address) is the Ethereum address of its secp256k1 node key; its
enode URL carries the 64-byte public key. Private keys are written only into a key directory that is
never committed (Besu reads `node-private-key-file` as 0x-prefixed hex).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_keys import keys
from eth_utils import keccak

SECP256K1_P = 2**256 - 2**32 - 977
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TEST_KEY_LABEL = "healthsilk TEST-ONLY besu validator"
_ENODE = re.compile(r"^enode://(?P<key>[0-9a-fA-F]{128})@(?P<host>[^:/?#]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})(?:\?discport=\d{1,5})?$")


@dataclass(frozen=True)
class NodeKey:
    """One validator node: its public key, where peers reach it, and (for generated keys) its private key."""

    public_key: bytes  # 64 bytes, uncompressed without the 0x04 prefix
    host: str
    p2p_port: int
    private_key: bytes | None = None

    @property
    def address(self) -> str:
        return keys.PublicKey(self.public_key).to_checksum_address()

    @property
    def enode(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"enode://{self.public_key.hex()}@{host}:{self.p2p_port}"


def _valid_scalar(secret: bytes) -> bool:
    return 0 < int.from_bytes(secret, "big") < SECP256K1_N


def _on_curve(public_key: bytes) -> bool:
    x, y = int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")
    return x < SECP256K1_P and y < SECP256K1_P and (y * y - x * x * x - 7) % SECP256K1_P == 0


def _from_private(secret: bytes, host: str, port: int) -> NodeKey:
    return NodeKey(keys.PrivateKey(secret).public_key.to_bytes(), host, port, secret)


def example_node_keys(count: int, host: str = "127.0.0.1", first_port: int = 30303) -> list[NodeKey]:
    """Deterministic keys from public labels: TEST-ONLY, anyone can derive them and sign as these validators."""
    result = []
    for index in range(1, count + 1):
        secret = keccak(text=f"{TEST_KEY_LABEL} {index}")
        if not _valid_scalar(secret):  # astronomically unlikely; fail loudly rather than shift the labels
            raise RuntimeError(f"test key {index} is not a valid secp256k1 scalar")
        result.append(_from_private(secret, host, first_port + index - 1))
    return result


def random_node_keys(count: int, host: str = "127.0.0.1", first_port: int = 30303) -> list[NodeKey]:
    """Fresh throwaway keys from the OS CSPRNG."""
    result = []
    for index in range(count):
        secret = secrets.token_bytes(32)
        while not _valid_scalar(secret):
            secret = secrets.token_bytes(32)
        result.append(_from_private(secret, host, first_port + index))
    return result


def parse_enode(url: str) -> NodeKey:
    """A NodeKey (public part only) from `enode://<128 hex>@<ip>:<port>`; ValueError when malformed."""
    match = _ENODE.match(url.strip())
    if match is None:
        raise ValueError(f"not an enode URL (enode://<128 hex chars>@<ip>:<port>): {url!r}")
    host = match["host"].strip("[]")
    try:
        ipaddress.ip_address(host)  # Besu's static nodes need IP literals unless DNS support is switched on
    except ValueError:
        raise ValueError(f"enode host must be an IP address, got {host!r}") from None
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"enode port out of range: {port}")
    public_key = bytes.fromhex(match["key"])
    if not _on_curve(public_key):
        raise ValueError(f"enode public key is not a secp256k1 point: {url!r}")
    return NodeKey(public_key, host, port)


def write_node_keys(node_keys: list[NodeKey], keys_dir: Path) -> list[Path]:
    """Write `node-N/key` (0600) and `node-N/key.pub`; refuses to overwrite a different existing key."""
    written = []
    for index, node in enumerate(node_keys, start=1):
        if node.private_key is None:
            raise ValueError(f"node-{index} has no private key to write")
        folder = keys_dir / f"node-{index}"
        key_file = folder / "key"
        text = "0x" + node.private_key.hex()
        if key_file.exists() and key_file.read_text().strip() != text:
            raise FileExistsError(f"{key_file} holds a different key; move it away first (it may be a live validator key)")
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        (folder / "key.pub").write_text("0x" + node.public_key.hex())
        written.append(key_file)
    return written
