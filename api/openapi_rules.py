"""The OpenAPI document states the rules the server enforces, where FastAPI's generator loses or cannot see them.

- Integer bounds stay exact: FastAPI's OpenAPI model types `minimum` / `maximum` as floats, so uint64 / uint128
  maxima came out as 1.8446744073709552e+19 (= 2**64, one more than the server accepts). They are restored here.
- Signatures are 65 bytes (r || s || v): a pattern, not just "hex".
- The typed data relayed to /v1/consents/relay is one of the ConsentLedger's four messages: the allowed
  `primaryType` values, their exact `types`, the message fields with their Solidity ranges, no extra fields, and
  (when the chain is reachable while the document is built) this network's EIP-712 domain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.types import HEX_PATTERN, ZERO_ADDRESS
from ledger.eip712 import DOMAIN_FIELDS, Domain, TypeFields

SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
# A float maximum that is exactly 2**bits stood for the uint maximum 2**bits - 1 before FastAPI rounded it.
_UINT_MAXIMA = {float(2**bits): 2**bits - 1 for bits in (64, 96, 128, 160, 192, 256)}


def state_rules(document: dict[str, Any], consent_types: dict[str, dict[str, TypeFields]], consent_domain: Callable[[], Domain | None]) -> dict[str, Any]:
    _exact_bounds(document)
    _signatures(document)
    relay = document.get("components", {}).get("schemas", {}).get("RelayRequest")
    if relay is not None:
        relay["properties"]["typed_data"] = {
            "description": "the typed data from /v1/consents/prepare, as signed: one of the ConsentLedger's messages",
            **typed_data_schema(consent_types, consent_domain()),
        }
    return document


def _exact_bounds(node: Any) -> None:
    if isinstance(node, dict):
        for key in _BOUNDS:
            value = node.get(key)
            if isinstance(value, float) and value.is_integer():
                node[key] = _UINT_MAXIMA.get(value, int(value)) if key == "maximum" else int(value)
        for item in node.values():
            _exact_bounds(item)
    elif isinstance(node, list):
        for item in node:
            _exact_bounds(item)


def _signatures(node: Any) -> None:
    """Every `signature` property (all are secp256k1 signatures, r || s || v) gets the 65-byte pattern."""
    if isinstance(node, dict):
        signature = node.get("properties", {}).get("signature") if isinstance(node.get("properties"), dict) else None
        if isinstance(signature, dict) and signature.get("pattern") == HEX_PATTERN:
            signature["pattern"] = SIGNATURE_PATTERN
        for item in node.values():
            _signatures(item)
    elif isinstance(node, list):
        for item in node:
            _signatures(item)


def _solidity(kind: str) -> dict[str, Any]:
    if kind == "address":
        return {"type": "string", "pattern": r"^0x[0-9a-fA-F]{40}$", "format": "eip55-address"}
    if kind.startswith("uint"):
        return {"type": "integer", "minimum": 0, "maximum": 2 ** int(kind[4:]) - 1}
    if kind == "bytes32":
        return {"type": "string", "pattern": r"^0x[0-9a-fA-F]{64}$"}
    if kind == "bytes":
        return {"type": "string", "pattern": HEX_PATTERN}
    return {"type": "string"}


def _domain_schema(domain: Domain | None) -> dict[str, Any]:
    names = [field["name"] for field in DOMAIN_FIELDS]
    if domain is None:
        properties: dict[str, Any] = {
            "name": {"type": "string"}, "version": {"type": "string"}, "chainId": {"type": "integer", "minimum": 1},
            "verifyingContract": {"type": "string", "pattern": r"^0x[0-9a-fA-F]{40}$", "format": "eip55-address", "not": {"const": ZERO_ADDRESS}},
        }
    else:
        contract = domain.verifying_contract
        properties = {
            "name": {"const": domain.name}, "version": {"const": domain.version}, "chainId": {"enum": [domain.chain_id, str(domain.chain_id)]},
            "verifyingContract": {"enum": [contract, contract.lower(), "0x" + contract[2:].upper()]},
        }
    return {"type": "object", "description": "this network's EIP-712 domain", "required": names, "additionalProperties": False, "properties": properties}


def typed_data_schema(types: dict[str, dict[str, TypeFields]], domain: Domain | None) -> dict[str, Any]:
    """EIP-712 typed data that may only be one of `types` ({primaryType: its types}), exactly as the server rebuilds it."""
    variants = []
    for primary, struct in types.items():
        fields = struct[primary]
        variants.append({
            "type": "object",
            "title": primary,
            "required": ["types", "primaryType", "domain", "message"],
            "properties": {
                "primaryType": {"const": primary},
                "types": {
                    "type": "object", "required": [primary], "additionalProperties": False,
                    "properties": {primary: {"const": fields}, "EIP712Domain": {"const": DOMAIN_FIELDS}},
                },
                "domain": _domain_schema(domain),
                "message": {
                    "type": "object", "required": [field["name"] for field in fields], "additionalProperties": False,
                    "properties": {field["name"]: _solidity(field["type"]) for field in fields},
                },
            },
        })
    return {"type": "object", "oneOf": variants} if len(variants) > 1 else variants[0]


def consent_domain(svc: Any) -> Callable[[], Domain | None]:
    """This network's ConsentLedger domain, or None while the chain cannot be asked (the document then states the
    domain's shape only)."""

    def read() -> Domain | None:
        try:
            return svc.consents.domain  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - the document is still served, with less detail
            return None

    return read
