"""Deploy the e-card health payments contract; it creates its own settlement token (its only minter).

The token is recorded in the deployments file too (same transaction), so clients open it by name like any
other contract.
"""

from __future__ import annotations

import hashlib

from ledger.compile import load_artifact
from ledger.deployments import DeployedContract
from migrations import MigrationContext


def migrate(context: MigrationContext) -> None:
    payments_address = context.deploy(
        "HealthCardPayments", context.address("ConsortiumRegistry"), context.address("RecordRegistry")
    )
    payments = context.deployments.contracts["HealthCardPayments"]
    recorded = context.deployments.contracts.get("SettlementToken")
    payments_abi = load_artifact("HealthCardPayments")["abi"]
    token_address = context.w3.eth.contract(address=payments_address, abi=payments_abi).functions.settlementToken().call()
    if recorded is not None and recorded.address == token_address and recorded.transaction_hash == payments.transaction_hash:
        return
    token_bytecode = load_artifact("SettlementToken")["bytecode"]
    context.deployments.contracts["SettlementToken"] = DeployedContract(
        address=token_address,
        transaction_hash=payments.transaction_hash,
        block_number=payments.block_number,
        bytecode_sha256=hashlib.sha256(bytes.fromhex(token_bytecode.removeprefix("0x"))).hexdigest(),
    )
    context.deployments.save(context.deployments_file)
