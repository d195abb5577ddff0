"""EIP-712 typed data: the domain read from the contract itself (ERC-5267) and signatures by local keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract

TypeFields = list[dict[str, str]]


@dataclass(frozen=True)
class Domain:
    name: str
    version: str
    chain_id: int
    verifying_contract: str

    @classmethod
    def of(cls, contract: Contract) -> "Domain":
        """The domain the contract itself declares (`eip712Domain()`), so signer and verifier cannot drift apart."""
        _fields, name, version, chain_id, verifying_contract, _salt, _extensions = contract.functions.eip712Domain().call()
        return cls(name=name, version=version, chain_id=chain_id, verifying_contract=verifying_contract)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "chainId": self.chain_id, "verifyingContract": self.verifying_contract}


@dataclass(frozen=True)
class TypedMessage:
    domain: Domain
    primary_type: str
    types: dict[str, TypeFields]
    message: dict[str, Any]

    def full(self) -> dict[str, Any]:
        return {
            "types": {"EIP712Domain": DOMAIN_FIELDS, **self.types},
            "primaryType": self.primary_type,
            "domain": self.domain.as_dict(),
            "message": self.message,
        }

    def digest(self) -> bytes:
        signable = encode_typed_data(full_message=self.full())
        return keccak(b"\x19" + signable.version + signable.header + signable.body)

    def sign(self, account: LocalAccount) -> bytes:
        return bytes(account.sign_typed_data(full_message=self.full()).signature)

    def recover(self, signature: bytes) -> str:
        return Account.recover_message(encode_typed_data(full_message=self.full()), signature=signature)


def has_canonical_types(given: object, expected: dict[str, TypeFields]) -> bool:
    """True when a client's `types` are exactly `expected` (plus, optionally, the standard EIP712Domain)."""
    if not isinstance(given, Mapping):
        return False
    return {k: v for k, v in given.items() if k != "EIP712Domain"} == expected and given.get("EIP712Domain", DOMAIN_FIELDS) == DOMAIN_FIELDS


DOMAIN_FIELDS: TypeFields = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
