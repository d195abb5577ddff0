"""The network operator's keys, derived from one mnemonic kept in operator.json (mode 0600).

The operator account (HD index 0) deploys the contracts on the private port. On geth, a second account
(HD index 1) is the gateway's funding account: it pays members' top-ups, and because nothing else signs
with it, the gateway alone hands out its nonces. Both are prefunded in the chain's genesis.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

Account.enable_unaudited_hdwallet_features()

FUNDING_PATH = "m/44'/60'/0'/0/1"


@dataclass(frozen=True)
class Operator:
    mnemonic: str

    @property
    def account(self) -> LocalAccount:
        return Account.from_mnemonic(self.mnemonic)

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def funding_account(self) -> LocalAccount:
        return Account.from_mnemonic(self.mnemonic, account_path=FUNDING_PATH)


def load_or_create_operator(path: Path) -> Operator:
    """The operator of this data dir; created once (mode 0600), never printed."""
    if path.exists():
        return Operator(mnemonic=json.loads(path.read_text())["mnemonic"])
    _, mnemonic = Account.create_with_mnemonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"mnemonic": mnemonic}, handle)
    return Operator(mnemonic=mnemonic)
