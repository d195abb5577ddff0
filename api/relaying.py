"""Relaying patients' signed messages with the institution's one transaction sender."""

from __future__ import annotations

from typing import Any


class ReceiptRecorder:
    """Stands in for the sender so a relay's receipt (hash, block) is kept; nonces stay with the one sender."""

    def __init__(self, sender: Any) -> None:
        self._sender = sender
        self.receipt: Any = None

    def transact(self, function: Any, value: int = 0) -> Any:
        self.receipt = self._sender.transact(function, value)
        return self.receipt
