from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from crypto_testkit import ALL_SUITES, make_context

from crypto.datakey import DataKey
from crypto.errors import KeyFormatError
from crypto.keys import HpkePrivateKey, HpkePublicKey
from crypto.suites import DEFAULT_SUITE, SUITES, SuiteId, suite_spec
from crypto.wrap import wrap_key

PUBLIC_LEN = {SuiteId.X25519_AES256GCM: 33, SuiteId.MLKEM768X25519_AES256GCM: 1217, SuiteId.X25519_CHACHA20POLY1305: 33}
PRIVATE_LEN = {SuiteId.X25519_AES256GCM: 33, SuiteId.MLKEM768X25519_AES256GCM: 97, SuiteId.X25519_CHACHA20POLY1305: 33}


def test_default_suite_is_x25519_aes256gcm() -> None:
    assert DEFAULT_SUITE is SuiteId.X25519_AES256GCM
    assert HpkePrivateKey.generate().suite is SuiteId.X25519_AES256GCM


def test_hybrid_suite_available() -> None:
    assert SUITES[SuiteId.MLKEM768X25519_AES256GCM].enc_length == 1120


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_public_key_round_trip(suite: SuiteId) -> None:
    sk = HpkePrivateKey.generate(suite)
    data = sk.public_key().to_bytes()
    assert len(data) == PUBLIC_LEN[suite]
    assert data[0] == suite
    parsed = HpkePublicKey.from_bytes(data)
    assert parsed == sk.public_key()
    assert HpkePublicKey.from_hex(sk.public_key().to_hex()) == parsed


@pytest.mark.parametrize("suite", ALL_SUITES)
def test_private_key_round_trip(suite: SuiteId) -> None:
    sk = HpkePrivateKey.generate(suite)
    data = sk.to_bytes()
    assert len(data) == PRIVATE_LEN[suite]
    again = HpkePrivateKey.from_bytes(data)
    assert again == sk
    assert again.public_key() == sk.public_key()
    assert HpkePrivateKey.generate(suite) != sk


def test_private_key_repr_hides_secret() -> None:
    sk = HpkePrivateKey.generate()
    assert sk.to_bytes()[1:].hex() not in repr(sk)
    assert "secret" in repr(DataKey.generate())


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\x7f" + bytes(32), "unknown HPKE suite id 0x7f"),
        (b"\x01" + bytes(31), "must be 33 bytes, got 32"),
        (b"\x02" + bytes(32), "must be 1217 bytes"),
        ("01" * 33, "must be bytes"),
    ],
)
def test_malformed_public_key(data: object, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        HpkePublicKey.from_bytes(data)  # type: ignore[arg-type]


def test_invalid_mlkem_public_key_rejected() -> None:
    # All-0xff coefficients exceed q: FIPS 203's encapsulation-key check must refuse it.
    with pytest.raises(KeyFormatError, match="invalid"):
        HpkePublicKey.from_bytes(b"\x02" + b"\xff" * 1184 + bytes(32))


def test_bad_hex_public_key() -> None:
    with pytest.raises(KeyFormatError, match="hex"):
        HpkePublicKey.from_hex("0xzz")


@pytest.mark.parametrize("data", [b"", b"\x09" + bytes(32), b"\x01" + bytes(5), b"\x02" + bytes(33)])
def test_malformed_private_key(data: bytes) -> None:
    with pytest.raises(KeyFormatError):
        HpkePrivateKey.from_bytes(data)


def test_unknown_suite_lookup() -> None:
    with pytest.raises(KeyFormatError, match="0x00"):
        suite_spec(0)


def test_low_order_x25519_key_cannot_be_wrapped_to() -> None:
    # The all-zero point makes the DH secret zero; HPKE must refuse, surfaced as our error.
    pub = HpkePublicKey.from_bytes(b"\x01" + bytes(32))
    with pytest.raises(KeyFormatError, match="cannot wrap"):
        wrap_key(DataKey.generate(), make_context(), pub)


def test_data_key_validation() -> None:
    with pytest.raises(KeyFormatError):
        DataKey(bytes(16))
    with pytest.raises(KeyFormatError):
        DataKey("00" * 32)  # type: ignore[arg-type]
    key = DataKey.generate()
    assert key == DataKey(key.to_bytes()) and key != DataKey.generate()


def test_package_root_exports_public_api() -> None:
    # Load crypto/__init__.py explicitly: the editable install may expose the folder as a namespace.
    init = Path(__file__).resolve().parents[2] / "crypto" / "__init__.py"
    spec = importlib.util.spec_from_file_location("crypto_root_under_test", init)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
