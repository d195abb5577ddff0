"""DelegateAccessLog: the on-chain log of a patient's delegate's reads, sent by the institution that releases the
keys (`log_reads`, before any key leaves), and read back for the patient's access log and the audit (`reads_of`)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address
from web3.logs import DISCARD

from ledger.chain import Ledger
from ledger.transactions import TransactionSender

CONTRACT = "DelegateAccessLog"
MAX_READS = 256  # the contract's MAX_READS


@dataclass(frozen=True)
class DelegateRead:
    """One `DelegateRecordsAccessed` event: `institution` released the keys of `record_ids` of `patient` to `delegate`."""

    patient: str
    delegate: str
    institution: str
    record_ids: tuple[bytes, ...]
    block_number: int
    transaction_hash: str


class DelegateAccessLog:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.contract = ledger.contract(CONTRACT)

    @staticmethod
    def deployed(ledger: Ledger) -> bool:
        return CONTRACT in ledger.deployments.contracts

    def log_reads(self, sender: TransactionSender, delegate: str, record_ids: list[bytes]) -> DelegateRead:
        """Logs the reads and waits for the receipt; a refusal raises ContractRevert named after the contract's error
        (NotCurrentDelegate, KeyNotHeld, UnknownRecord, RecordIsErased, MixedPatients, InvalidReadCount ...)."""
        receipt = self.ledger.transact(sender, self.contract.functions.logDelegateReads(to_checksum_address(delegate), [bytes(r) for r in record_ids]))
        events = self.contract.events.DelegateRecordsAccessed().process_receipt(receipt, errors=DISCARD)
        if len(events) != 1:
            raise RuntimeError(f"logDelegateReads mined in {receipt['transactionHash'].to_0x_hex()} without its event")
        a = events[0]["args"]
        return DelegateRead(a["patient"], a["delegate"], a["institution"], tuple(bytes(r) for r in a["recordIds"]), int(receipt["blockNumber"]),
                            receipt["transactionHash"].to_0x_hex())

    def reads_of(self, patient: str) -> list[DelegateRead]:
        """Every logged delegate read of the patient's records, in chain order."""
        return [
            DelegateRead(e.args["patient"], e.args["delegate"], e.args["institution"], tuple(bytes(r) for r in e.args["recordIds"]), e.block_number,
                         "0x" + e.transaction_hash.hex())
            for e in self.ledger.events(CONTRACT, "DelegateRecordsAccessed", patient=to_checksum_address(patient))
        ]
