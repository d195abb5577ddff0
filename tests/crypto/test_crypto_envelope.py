from __future__ import annotations

import pytest
from crypto_testkit import PATIENT, contexts, make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.context import RecordContext
from crypto.datakey import DataKey
from crypto.envelope import MAGIC, OVERHEAD, open_envelope, seal
from crypto.errors import CryptoError, DecryptionError, EnvelopeFormatError


def test_round_trip(context: RecordContext) -> None:
    envelope, key = seal(b'{"resourceType": "Observation"}', context)
    assert open_envelope(envelope, context, key) == b'{"resourceType": "Observation"}'


def test_empty_payload(context: RecordContext) -> None:
    envelope, key = seal(b"", context)
    assert len(envelope) == OVERHEAD == 33
    assert open_envelope(envelope, context, key) == b""


def test_layout(context: RecordContext) -> None:
    envelope, _ = seal(b"x" * 100, context)
    assert envelope[:4] == MAGIC == b"HSEV"
    assert envelope[4] == 1
    assert len(envelope) == 4 + 1 + 12 + 100 + 16


def test_fresh_key_and_nonce_every_seal(context: RecordContext) -> None:
    (e1, k1), (e2, k2) = seal(b"same", context), seal(b"same", context)
    assert k1 != k2 and e1[5:17] != e2[5:17] and e1 != e2


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=4096), ctx=contexts())
def test_property_round_trip(payload: bytes, ctx: RecordContext) -> None:
    envelope, key = seal(payload, ctx)
    assert open_envelope(envelope, ctx, key) == payload


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=256), data=st.data())
def test_property_any_single_byte_flip_is_rejected(payload: bytes, data: st.DataObject) -> None:
    ctx = make_context()
    envelope, key = seal(payload, ctx)
    index = data.draw(st.integers(0, len(envelope) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    tampered = bytearray(envelope)
    tampered[index] ^= mask
    with pytest.raises(CryptoError) as info:  # any raw library exception would fail the test
        open_envelope(bytes(tampered), ctx, key)
    expected = EnvelopeFormatError if index < 5 else DecryptionError
    assert isinstance(info.value, expected) and str(info.value)


@pytest.mark.parametrize("cut", [0, 1, 5, 16, 32])
def test_truncated_envelope(cut: int, context: RecordContext) -> None:
    envelope, key = seal(b"payload", context)
    with pytest.raises(EnvelopeFormatError if cut < 33 else DecryptionError):
        open_envelope(envelope[:cut], context, key)


def test_appended_bytes_rejected(context: RecordContext) -> None:
    envelope, key = seal(b"payload", context)
    with pytest.raises(DecryptionError):
        open_envelope(envelope + b"\x00", context, key)


def test_unsupported_version_is_named(context: RecordContext) -> None:
    envelope, key = seal(b"payload", context)
    with pytest.raises(EnvelopeFormatError, match="unsupported envelope version 2"):
        open_envelope(envelope[:4] + b"\x02" + envelope[5:], context, key)


def test_swapped_ciphertexts_between_records_fail() -> None:
    a = make_context(record_id=b"\xaa" * 32)
    b = make_context(record_id=b"\xbb" * 32)
    env_a, key_a = seal(b"record A", a)
    env_b, key_b = seal(b"record B", b)
    # Attacker stores A's envelope (and even its key) under record B.
    for env, key in [(env_a, key_a), (env_a, key_b)]:
        with pytest.raises(DecryptionError):
            open_envelope(env, b, key)
    with pytest.raises(DecryptionError):
        open_envelope(env_b, a, key_b)


@pytest.mark.parametrize(
    "change",
    [
        {"record_id": b"\x01" * 32},
        {"patient": "0x" + "11" * 20},
        {"category": 3},
        {"version": 2},
    ],
)
def test_any_context_field_change_fails(change: dict[str, object]) -> None:
    envelope, key = seal(b"payload", make_context())
    with pytest.raises(DecryptionError, match="record context"):
        open_envelope(envelope, make_context(**change), key)


def test_patient_case_does_not_matter() -> None:
    envelope, key = seal(b"p", make_context(patient=PATIENT.lower()))
    assert open_envelope(envelope, make_context(patient=PATIENT), key) == b"p"


def test_wrong_data_key(context: RecordContext) -> None:
    envelope, _ = seal(b"payload", context)
    with pytest.raises(DecryptionError):
        open_envelope(envelope, context, DataKey.generate())


@pytest.mark.parametrize("bad", [None, "text", 5])
def test_bad_argument_types(bad: object, context: RecordContext) -> None:
    envelope, key = seal(b"payload", context)
    with pytest.raises(CryptoError):
        seal(bad, context)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        open_envelope(bad, context, key)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        open_envelope(envelope, bad, key)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        open_envelope(envelope, context, bad)  # type: ignore[arg-type]
