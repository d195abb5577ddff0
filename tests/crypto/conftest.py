"""Fixtures for the crypto tests."""

from __future__ import annotations

import pytest
from crypto_testkit import ALL_SUITES, make_context

from crypto.context import RecordContext
from crypto.keys import HpkePrivateKey
from crypto.suites import SuiteId


@pytest.fixture
def context() -> RecordContext:
    return make_context()


@pytest.fixture(scope="session")
def keys_by_suite() -> dict[SuiteId, HpkePrivateKey]:
    return {s: HpkePrivateKey.generate(s) for s in ALL_SUITES}
