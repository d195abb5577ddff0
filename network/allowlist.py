"""Besu account allowlist from the on-chain ConsortiumRegistry: who may send transactions to the chain.

On a Besu consortium, each node enforces `--permissions-accounts-config-file`, a TOML file with
`accounts-allowlist=[...]`. The registry is the source of truth, so the file is generated from it:
page through `members(offset, limit)`, keep those whose `member(address).status` is Active, render them
checksummed, sorted and deduplicated, and replace the file atomically. Besu picks the new file up on
`perm_reloadPermissionsFromFile` (or on restart).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import is_checksum_address, is_hex_address, to_canonical_address, to_checksum_address

STATUS_ACTIVE = 1
STATUS_SUSPENDED = 2
STATUS_FIELD = 5  # member(address) -> (name, country, roles, hpkePublicKey, endpoint, status, admittedAt, updatedAt)
MEMBER_FIELDS = 8
DEFAULT_PAGE_SIZE = 100
ALLOWLIST_KEY = "accounts-allowlist"

if TYPE_CHECKING:
    from web3.contract import Contract

_HEADER = (
    "# Besu accounts allowlist: the accounts that may send transactions (the registry's active members).\n"
    "# Regenerated from the ConsortiumRegistry by `healthsilk network allowlist --out FILE`; do not edit.\n"
)


def collect_active_members(registry: "Contract", *, page_size: int = DEFAULT_PAGE_SIZE, block_identifier: int | str | None = None) -> list[str]:
    """Checksummed addresses of the registry's Active members, in registry order.

    `registry` is a web3.py contract object for ConsortiumRegistry. Every call is pinned to one block
    (the current head unless `block_identifier` is given) so an admission landing between two pages
    cannot shift offsets and make the listing skip or repeat a member.
    """
    if not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be a positive integer, got {page_size!r}")
    functions = registry.functions
    for name in ("members", "member"):
        if not hasattr(functions, name):
            raise TypeError(f"the registry contract has no {name}() function; pass a ConsortiumRegistry contract object")
    block = registry.w3.eth.block_number if block_identifier is None else block_identifier

    active: list[str] = []
    seen: set[str] = set()
    offset = 0
    while True:
        page = functions.members(offset, page_size).call(block_identifier=block)
        for raw in page:
            address = to_checksum_address(raw)
            if address in seen:
                continue
            seen.add(address)
            if _status(functions.member(address).call(block_identifier=block)) == STATUS_ACTIVE:
                active.append(address)
        if len(page) < page_size:
            return active
        offset += len(page)


def _status(record: Any) -> int:
    """The status field of member(address), whether web3 returned the struct itself or a 1-tuple around it."""
    if isinstance(record, (list, tuple)) and len(record) == 1 and isinstance(record[0], (list, tuple)):
        record = record[0]
    if not isinstance(record, (list, tuple)) or len(record) != MEMBER_FIELDS:
        raise ValueError(f"member() returned {record!r}; expected {MEMBER_FIELDS} fields ending in status, admittedAt, updatedAt")
    return int(record[STATUS_FIELD])


def normalize_addresses(addresses: Iterable[str]) -> list[str]:
    """Checksummed, deduplicated, sorted by address bytes; ValueError on anything that is not an address.

    Mixed-case input must carry a valid EIP-55 checksum: a wrong checksum usually means a typo, and a
    typo here would silently lock a member out of the chain.
    """
    if isinstance(addresses, (str, bytes)):
        raise ValueError("pass a list of addresses, not a single string")
    unique: dict[bytes, str] = {}
    for address in addresses:
        if not isinstance(address, str) or not is_hex_address(address) or not address.startswith("0x"):
            raise ValueError(f"not a 0x-prefixed 20-byte hex address: {address!r}")
        body = address[2:]
        if body != body.lower() and body != body.upper() and not is_checksum_address(address):
            raise ValueError(f"address has an invalid EIP-55 checksum (typo?): {address}")
        canonical = to_canonical_address(address)
        unique[canonical] = to_checksum_address(canonical)
    return [unique[key] for key in sorted(unique)]


def render_accounts_allowlist(addresses: list[str]) -> str:
    """Besu's accounts-allowlist TOML for `addresses`; ValueError on a bad address or an empty list."""
    ordered = normalize_addresses(addresses)
    if not ordered:
        raise ValueError("refusing to render an empty accounts allowlist: Besu would then refuse every transaction")
    lines = ",\n".join(f'  "{address}"' for address in ordered)
    return f"{_HEADER}{ALLOWLIST_KEY}=[\n{lines}\n]\n"


def parse_accounts_allowlist(text: str) -> list[str]:
    """The checksummed addresses in an accounts-allowlist TOML document (ValueError when malformed)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"accounts allowlist is not valid TOML: {exc}") from None
    entries = document.get(ALLOWLIST_KEY)
    if not isinstance(entries, list):
        raise ValueError(f"accounts allowlist has no {ALLOWLIST_KEY} array")
    return normalize_addresses(entries)


def write_accounts_allowlist(path: str | os.PathLike[str], addresses: list[str]) -> list[str]:
    """Render and atomically replace `path` (temp file, fsync, rename); returns the addresses written.

    The text is rendered before anything touches the disk, so bad input leaves the old file as it was,
    and a reader (Besu reloading its permissions) sees either the old file or the new one, never half.
    """
    text = render_accounts_allowlist(addresses)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return normalize_addresses(addresses)
