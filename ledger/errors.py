"""Contract reverts decoded into Python exceptions with a readable message; a chain node's disk trouble recognised."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_abi import decode
from eth_utils import keccak

_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]


class LedgerError(RuntimeError):
    """Base of every error the ledger layer raises."""


class ContractRevert(LedgerError):
    """A contract refused a call; `name` is the custom error (e.g. "NotActiveGovernor") and `args` its values."""

    def __init__(self, name: str, args: dict[str, Any], raw: bytes = b"") -> None:
        self.name = name
        self.args_by_name = args
        self.raw = raw
        rendered = ", ".join(f"{key}={_render(value)}" for key, value in args.items())
        super().__init__(f"{name}({rendered})" if rendered else name)


class TransactionFailed(LedgerError):
    """A transaction could not be sent or mined (not a contract refusal)."""


# How a chain node's disk trouble reads, in the node's own words (Go and Python OS errors) and in the
# permissioning gateway's sentence (STORAGE_FULL: "the chain node's disk is full" / "... is read-only").
_STORAGE_FAILURE_MARKERS = (
    "no space left on device",
    "[errno 28]",
    "read-only file system",
    "[errno 30]",
    "disk is full",
    "disk is read-only",
)


def storage_failure(message: str) -> bool:
    """True when an error message says the chain node could not write because its disk is full or read-only."""
    lowered = message.lower()
    return any(marker in lowered for marker in _STORAGE_FAILURE_MARKERS)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _canonical_type(entry: dict[str, Any]) -> str:
    if entry["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(component) for component in entry["components"])
        return f"({inner}){entry['type'][5:]}"
    return entry["type"]


class ErrorDecoder:
    """Maps 4-byte error selectors of every known contract to names and argument types."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                types = [_canonical_type(item) for item in entry["inputs"]]
                selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
                names = [item["name"] or f"arg{index}" for index, item in enumerate(entry["inputs"])]
                self._errors[selector] = (entry["name"], names, types)

    def decode(self, data: bytes) -> ContractRevert:
        selector, body = data[:4], data[4:]
        try:
            if selector == _ERROR_STRING:
                return ContractRevert("Error", {"reason": decode(["string"], body)[0]}, data)
            if selector == _PANIC:
                return ContractRevert("Panic", {"code": hex(decode(["uint256"], body)[0])}, data)
            if selector in self._errors:
                name, names, types = self._errors[selector]
                return ContractRevert(name, dict(zip(names, decode(types, body), strict=True)), data)
        except Exception:  # noqa: BLE001 - undecodable data still produces an error below
            pass
        return ContractRevert("UnknownRevert", {"data": data} if data else {}, data)
