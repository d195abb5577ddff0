"""The record of which contracts are deployed where: `<data dir>/deployments/<chainId>.json`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field


class DeployedContract(BaseModel):
    address: str
    transaction_hash: str
    block_number: int
    bytecode_sha256: str = Field(description="sha256 of the creation bytecode, to notice a changed contract")


class Deployments(BaseModel):
    chain_id: int
    contracts: dict[str, DeployedContract] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, chain_id: int) -> "Deployments":
        if not path.exists():
            return cls(chain_id=chain_id)
        deployments = cls.model_validate_json(path.read_text())
        if deployments.chain_id != chain_id:
            raise ValueError(f"{path} is for chain {deployments.chain_id}, not {chain_id}")
        return deployments

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)

    def address_of(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise LookupError(f"{name} is not deployed on chain {self.chain_id}; run `healthsilk network up`") from None
