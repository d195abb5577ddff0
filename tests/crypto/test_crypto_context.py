from __future__ import annotations

import dataclasses

import pytest
from crypto_testkit import PATIENT, make_context
from hexbytes import HexBytes

from crypto.context import RecordContext, normalize_address
from crypto.errors import InvalidContextError


def test_valid_context_is_normalised() -> None:
    ctx = make_context(patient=PATIENT.lower(), record_id=HexBytes(bytes(32)))
    assert ctx.patient == PATIENT
    assert type(ctx.record_id) is bytes
    assert len(ctx.encode()) == 57


def test_encoding_layout() -> None:
    ctx = make_context(category=0xAB, version=0x01020304)
    enc = ctx.encode()
    assert enc[:32] == bytes(range(32))
    assert enc[32:52] == bytes.fromhex(PATIENT[2:])
    assert enc[52] == 0xAB
    assert enc[53:] == bytes([1, 2, 3, 4])


def test_context_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_context().version = 2  # type: ignore[misc]


@pytest.mark.parametrize("record_id", [b"", bytes(31), bytes(33), "00" * 32, 5, None])
def test_bad_record_id(record_id: object) -> None:
    with pytest.raises(InvalidContextError, match="record_id"):
        make_context(record_id=record_id)


@pytest.mark.parametrize(
    "patient",
    [
        "0x52908400098527886E0F7030069857D2E4169EE",  # 19 bytes
        "52908400098527886E0F7030069857D2E4169EE7",  # no 0x
        "0x52908400098527886E0F7030069857D2E4169EEG",  # not hex
        "0x52908400098527886e0F7030069857D2E4169EE7",  # bad EIP-55 checksum
        "0x" + "0" * 40,  # zero address
        b"\x52" * 20,
        None,
    ],
)
def test_bad_patient(patient: object) -> None:
    with pytest.raises(InvalidContextError, match="patient"):
        make_context(patient=patient)


def test_upper_case_address_accepted() -> None:
    assert normalize_address("0x" + PATIENT[2:].upper()) == PATIENT


@pytest.mark.parametrize("category", [-1, 256, True, 1.0, "1"])
def test_bad_category(category: object) -> None:
    with pytest.raises(InvalidContextError, match="category"):
        make_context(category=category)


@pytest.mark.parametrize("version", [-1, 2**32, False, None])
def test_bad_version(version: object) -> None:
    with pytest.raises(InvalidContextError, match="version"):
        make_context(version=version)


def test_invalid_context_is_value_error() -> None:
    # Lets API layers map it to a 400 with a generic ValueError handler too.
    with pytest.raises(ValueError):
        RecordContext(bytes(1), PATIENT, 0, 0)
