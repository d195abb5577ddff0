"""Helpers and hypothesis strategies shared by the crypto tests (imported by basename).

Tests import from the ``crypto.*`` submodules rather than the package root so they
also pass while the editable install still maps ``crypto`` as a namespace package.
"""

from __future__ import annotations

from hypothesis import strategies as st

from crypto.context import RecordContext
from crypto.suites import SuiteId

ALL_SUITES = list(SuiteId)
CHEAP_SCRYPT_N = 2**10  # the minimum a key file accepts; keeps tests fast
PATIENT = "0x52908400098527886E0F7030069857D2E4169EE7"


def make_context(**overrides: object) -> RecordContext:
    fields: dict[str, object] = {
        "record_id": bytes(range(32)),
        "patient": PATIENT,
        "category": 2,
        "version": 1,
    }
    fields.update(overrides)
    return RecordContext(**fields)  # type: ignore[arg-type]


@st.composite
def contexts(draw: st.DrawFn) -> RecordContext:
    address = draw(st.binary(min_size=20, max_size=20).filter(any))
    return RecordContext(
        record_id=draw(st.binary(min_size=32, max_size=32)),
        patient="0x" + address.hex(),
        category=draw(st.integers(0, 255)),
        version=draw(st.integers(0, 2**32 - 1)),
    )
