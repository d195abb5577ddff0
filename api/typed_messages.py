"""Typed data a client sends back for relaying: checked against this network's domain and the contract's own
struct, then rebuilt from them, so nothing the client added or reordered is ever signed or relayed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils import is_address, to_checksum_address

from api.problems import invalid
from i18n import _
from ledger.eip712 import Domain, TypedMessage, TypeFields, has_canonical_types


def to_json(value: Any) -> Any:
    """Typed data and event arguments as JSON: bytes become 0x-hex (what wallets and eth-account read back)."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def field_value(kind: str, name: str, value: Any) -> Any:
    """One message field from its JSON form, validated against its Solidity type."""
    where = f"typed_data.message.{name}"
    if kind == "address":
        if not isinstance(value, str) or not is_address(value):
            raise invalid(_("{where} must be a 0x address").format(where=where))
        return to_checksum_address(value)
    if kind.startswith("uint"):
        bits = int(kind[4:])
        if isinstance(value, str):
            try:
                value = int(value, 16) if value.lower().startswith("0x") else int(value)
            except ValueError:
                raise invalid(_("{where} must be an integer").format(where=where)) from None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
            raise invalid(_("{where} must be an integer that fits {kind}").format(where=where, kind=kind))
        return value
    if kind == "bytes32":
        if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
            raise invalid(_("{where} must be 0x + 64 hex digits").format(where=where))
    if kind in ("bytes", "bytes32"):
        if not isinstance(value, str) or not value.startswith("0x"):
            raise invalid(_("{where} must be 0x-hex bytes").format(where=where))
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise invalid(_("{where} must be 0x-hex bytes").format(where=where)) from None
    raise invalid(_("{where} has unsupported type {kind}").format(where=where, kind=kind))  # pragma: no cover - canonical types only use the above


def same_domain(given: Any, expected: Domain) -> bool:
    if not isinstance(given, Mapping) or set(given) != {"name", "version", "chainId", "verifyingContract"}:
        return False
    chain_id, address = given.get("chainId"), given.get("verifyingContract")
    if isinstance(chain_id, str) and chain_id.isdigit():
        chain_id = int(chain_id)
    return (
        given.get("name") == expected.name and given.get("version") == expected.version and chain_id == expected.chain_id
        and isinstance(address, str) and is_address(address) and to_checksum_address(address) == expected.verifying_contract
    )


def parse_typed(typed_data: Mapping[str, Any], domain: Domain, primary: str, types: dict[str, TypeFields], contract: str, prepare_route: str) -> TypedMessage:
    """`typed_data` as the `primary` message of `contract` on this network, or a 422 problem saying what is wrong."""
    if typed_data.get("primaryType") != primary:
        raise invalid(_("typed_data.primaryType must be {primary}, got {primarytype}").format(primary=primary, primarytype=repr(typed_data.get('primaryType'))))
    if not has_canonical_types(typed_data.get("types"), types):
        raise invalid(_("typed_data.types must be exactly the {contract}'s {primary} type (use the typed data from {prepare_route})").format(contract=contract, primary=primary, prepare_route=prepare_route))
    if not same_domain(typed_data.get("domain"), domain):
        raise invalid(_("typed_data.domain is not this network's {contract} domain ({name} v{version}, chain {chain_id}, {verifying_contract})").format(contract=contract, name=domain.name, version=domain.version, chain_id=domain.chain_id, verifying_contract=domain.verifying_contract))
    fields = types[primary]
    message = typed_data.get("message")
    if not isinstance(message, Mapping) or set(message) != {f["name"] for f in fields}:
        raise invalid(_("typed_data.message must have exactly the fields {fields}").format(fields=', '.join(f['name'] for f in fields)))
    return TypedMessage(domain, primary, types, {f["name"]: field_value(f["type"], f["name"], message[f["name"]]) for f in fields})


def recover_signer(message: TypedMessage, signature: bytes | str) -> str:
    """Who signed `message` (signature as bytes or 0x-hex); a 422 problem for a malformed signature."""
    try:
        raw = bytes.fromhex(signature[2:]) if isinstance(signature, str) else signature
        return str(message.recover(raw))
    except Exception:  # noqa: BLE001 - eth-keys raises several types for malformed signatures
        raise invalid(_("the signature is malformed (expected 65 bytes r || s || v)")) from None
