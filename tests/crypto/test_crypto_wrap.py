from __future__ import annotations

import pytest
from crypto_testkit import ALL_SUITES, contexts, make_context
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.context import RecordContext
from crypto.datakey import DataKey
from crypto.envelope import open_envelope, seal
from crypto.errors import (
    CryptoError,
    DecryptionError,
    EnvelopeFormatError,
    KeyFormatError,
    WrongKeyError,
)
from crypto.keys import HpkePrivateKey
from crypto.suites import SuiteId
from crypto.wrap import rewrap, unwrap_key, wrap_key, wrap_length

WRAP_LEN = {SuiteId.X25519_AES256GCM: 82, SuiteId.MLKEM768X25519_AES256GCM: 1170, SuiteId.X25519_CHACHA20POLY1305: 82}


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_round_trip(suite: SuiteId, keys_by_suite: dict[SuiteId, HpkePrivateKey], context: RecordContext) -> None:
    sk = keys_by_suite[suite]
    key = DataKey.generate()
    wrap = wrap_key(key, context, sk.public_key())
    assert len(wrap) == wrap_length(suite) == WRAP_LEN[suite]
    assert wrap[0] == 1 and wrap[1] == suite
    assert unwrap_key(wrap, context, sk) == key


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_recipient_as_on_chain_bytes(suite: SuiteId, keys_by_suite: dict[SuiteId, HpkePrivateKey]) -> None:
    sk = keys_by_suite[suite]
    key = DataKey.generate()
    wrap = wrap_key(key, make_context(), sk.public_key().to_bytes())
    assert unwrap_key(wrap, make_context(), sk) == key


def test_wraps_are_randomised(keys_by_suite: dict[SuiteId, HpkePrivateKey], context: RecordContext) -> None:
    sk, key = keys_by_suite[SuiteId.X25519_AES256GCM], DataKey.generate()
    assert wrap_key(key, context, sk.public_key()) != wrap_key(key, context, sk.public_key())


def test_full_record_flow(keys_by_suite: dict[SuiteId, HpkePrivateKey], context: RecordContext) -> None:
    envelope, key = seal(b"ECG samples", context)
    wrap = wrap_key(key, context, keys_by_suite[SuiteId.MLKEM768X25519_AES256GCM].public_key())
    recovered = unwrap_key(wrap, context, keys_by_suite[SuiteId.MLKEM768X25519_AES256GCM])
    assert open_envelope(envelope, context, recovered) == b"ECG samples"


@settings(max_examples=40, deadline=None)
@given(ctx=contexts(), suite=st.sampled_from(ALL_SUITES), raw=st.binary(min_size=32, max_size=32))
def test_property_round_trip(ctx: RecordContext, suite: SuiteId, raw: bytes) -> None:
    sk = HpkePrivateKey.generate(suite)
    assert unwrap_key(wrap_key(DataKey(raw), ctx, sk.public_key()), ctx, sk) == DataKey(raw)


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_property_any_single_byte_flip_is_rejected(
    suite: SuiteId, keys_by_suite: dict[SuiteId, HpkePrivateKey]
) -> None:
    sk = keys_by_suite[suite]
    ctx = make_context()
    wrap = wrap_key(DataKey.generate(), ctx, sk.public_key())

    @settings(max_examples=150, deadline=None)
    @given(index=st.integers(0, len(wrap) - 1), mask=st.integers(1, 255))
    def check(index: int, mask: int) -> None:
        tampered = bytearray(wrap)
        tampered[index] ^= mask
        with pytest.raises(CryptoError) as info:  # never a raw library exception, never a key
            unwrap_key(bytes(tampered), ctx, sk)
        assert str(info.value)
        if index == 0:
            assert isinstance(info.value, EnvelopeFormatError)
        elif index > 1:
            assert isinstance(info.value, DecryptionError)

    check()


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_every_single_byte_flip_exhaustively(
    suite: SuiteId, keys_by_suite: dict[SuiteId, HpkePrivateKey]
) -> None:
    sk, ctx = keys_by_suite[suite], make_context()
    wrap = wrap_key(DataKey.generate(), ctx, sk.public_key())
    for index in range(len(wrap)):
        tampered = bytearray(wrap)
        tampered[index] ^= 0x01
        with pytest.raises(CryptoError):
            unwrap_key(bytes(tampered), ctx, sk)


@pytest.mark.parametrize(
    "change",
    [{"record_id": b"\x01" * 32}, {"patient": "0x" + "22" * 20}, {"category": 7}, {"version": 9}],
)
@pytest.mark.parametrize("suite", ALL_SUITES)
def test_wrap_for_one_context_fails_under_another(
    suite: SuiteId, change: dict[str, object], keys_by_suite: dict[SuiteId, HpkePrivateKey]
) -> None:
    sk = keys_by_suite[suite]
    wrap = wrap_key(DataKey.generate(), make_context(), sk.public_key())
    with pytest.raises(DecryptionError, match="record context"):
        unwrap_key(wrap, make_context(**change), sk)


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_wrong_recipient_key(suite: SuiteId, context: RecordContext) -> None:
    alice, mallory = HpkePrivateKey.generate(suite), HpkePrivateKey.generate(suite)
    wrap = wrap_key(DataKey.generate(), context, alice.public_key())
    with pytest.raises(DecryptionError, match="not wrapped to this key"):
        unwrap_key(wrap, context, mallory)


def test_suite_mismatch_is_wrong_key(keys_by_suite: dict[SuiteId, HpkePrivateKey], context: RecordContext) -> None:
    wrap = wrap_key(DataKey.generate(), context, keys_by_suite[SuiteId.X25519_AES256GCM].public_key())
    with pytest.raises(WrongKeyError, match="suite"):
        unwrap_key(wrap, context, keys_by_suite[SuiteId.MLKEM768X25519_AES256GCM])


@pytest.mark.parametrize(
    "wrap, message",
    [
        (b"", "too short"),
        (b"\x02\x01" + bytes(80), "unsupported key wrap version 2"),
        (b"\x01\x66" + bytes(80), "unknown HPKE suite id 0x66"),
        (b"\x01\x01" + bytes(79), "must be 82 bytes, got 81"),
        (b"\x01\x02" + bytes(80), "must be 1170 bytes"),
    ],
)
def test_malformed_wraps(wrap: bytes, message: str, keys_by_suite: dict[SuiteId, HpkePrivateKey]) -> None:
    with pytest.raises(EnvelopeFormatError, match=message):
        unwrap_key(wrap, make_context(), keys_by_suite[SuiteId.X25519_AES256GCM])


@pytest.mark.parametrize("patient_suite", ALL_SUITES)
@pytest.mark.parametrize("grantee_suite", ALL_SUITES)
def test_rewrap_to_new_grantee(patient_suite: SuiteId, grantee_suite: SuiteId, context: RecordContext) -> None:
    patient, grantee = HpkePrivateKey.generate(patient_suite), HpkePrivateKey.generate(grantee_suite)
    envelope, key = seal(b"discharge summary", context)
    patient_wrap = wrap_key(key, context, patient.public_key())
    grantee_wrap = rewrap(patient_wrap, context, patient, grantee.public_key().to_bytes())
    assert grantee_wrap[1] == grantee_suite
    assert open_envelope(envelope, context, unwrap_key(grantee_wrap, context, grantee)) == b"discharge summary"


def test_rewrap_needs_own_key_and_right_context(context: RecordContext) -> None:
    patient, grantee, other = (HpkePrivateKey.generate() for _ in range(3))
    wrap = wrap_key(DataKey.generate(), context, patient.public_key())
    with pytest.raises(DecryptionError):
        rewrap(wrap, context, other, grantee.public_key())
    with pytest.raises(DecryptionError):
        rewrap(wrap, make_context(version=99), patient, grantee.public_key())


def test_bad_argument_types(context: RecordContext, keys_by_suite: dict[SuiteId, HpkePrivateKey]) -> None:
    sk = keys_by_suite[SuiteId.X25519_AES256GCM]
    with pytest.raises(CryptoError):
        wrap_key(b"\x00" * 32, context, sk.public_key())  # type: ignore[arg-type]
    with pytest.raises(KeyFormatError):
        wrap_key(DataKey.generate(), context, "0x01" + "00" * 32)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        unwrap_key(b"\x01\x01" + bytes(80), context, sk.public_key())  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        unwrap_key(None, context, sk)  # type: ignore[arg-type]
