"""Contract refusals in tests: run a call that must revert, and require the contract's own custom error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.errors import ContractRevert


def refused(error: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> ContractRevert:
    """Run `call(*args, **kwargs)` and require the contract to refuse it with the custom error `error`."""
    with pytest.raises(ContractRevert) as info:
        call(*args, **kwargs)
    assert info.value.name == error, f"expected {error}, got {info.value}"
    return info.value
