from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from crypto_testkit import CHEAP_SCRYPT_N, make_context
from eth_account import Account
from eth_account.messages import encode_defunct

from crypto.datakey import DataKey
from crypto.errors import (
    CryptoError,
    KeyFileError,
    KeyFileExistsError,
    KeyFileFormatError,
    WrongPasswordError,
)
from crypto.keyfile import (
    DEFAULT_SCRYPT_N,
    FORMAT_VERSION,
    Identity,
    KeyFile,
    create_identity,
    load,
)
from crypto.keys import HpkePrivateKey
from crypto.suites import SuiteId
from crypto.wrap import unwrap_key, wrap_key

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def created() -> tuple[KeyFile, Identity]:
    return create_identity(PASSWORD, scrypt_n=CHEAP_SCRYPT_N)


def _doc(keyfile: KeyFile) -> dict[str, Any]:
    return json.loads(keyfile.to_json())


@pytest.mark.parametrize("suite", [SuiteId.X25519_AES256GCM, SuiteId.MLKEM768X25519_AES256GCM])
def test_round_trip(suite: SuiteId, tmp_path: Path) -> None:
    keyfile, identity = create_identity(PASSWORD, suite=suite, scrypt_n=CHEAP_SCRYPT_N)
    path = keyfile.save(tmp_path / "alice.json")
    loaded = load(path, PASSWORD)
    assert loaded.address == identity.address == keyfile.address
    assert loaded.account.key == identity.account.key
    assert loaded.hpke_key == identity.hpke_key
    assert loaded.hpke_public_key == keyfile.hpke_public_key
    assert loaded.hpke_key.suite is suite
    # The loaded keys work: sign, and unwrap a key wrapped to the published public key.
    message = encode_defunct(text="consent")
    signed = loaded.account.sign_message(message)
    assert Account.recover_message(message, signature=signed.signature) == identity.address
    ctx = make_context()
    data_key = DataKey.generate()
    assert unwrap_key(wrap_key(data_key, ctx, keyfile.hpke_public_key.to_bytes()), ctx, loaded.hpke_key) == data_key


def test_document_shape(created: tuple[KeyFile, Identity]) -> None:
    keyfile, identity = created
    doc = _doc(keyfile)
    assert doc["format"] == "healthsilk-keyfile" and doc["version"] == FORMAT_VERSION == 1
    assert doc["ethereum_keystore"]["version"] == 3
    assert doc["ethereum_keystore"]["crypto"]["kdf"] == "scrypt"
    assert doc["hpke_private_key"]["kdfparams"]["n"] == CHEAP_SCRYPT_N
    text = keyfile.to_json()
    # No secret in clear anywhere in the file.
    assert identity.account.key.hex().removeprefix("0x") not in text
    assert identity.hpke_key.to_bytes()[1:].hex() not in text
    assert identity.hpke_key.to_bytes()[1:].hex() not in repr(identity)
    assert identity.address in repr(identity)


def test_default_scrypt_cost_is_standard() -> None:
    assert DEFAULT_SCRYPT_N == 2**18
    keyfile, _ = create_identity(PASSWORD)
    doc = _doc(keyfile)
    assert doc["hpke_private_key"]["kdfparams"]["n"] == 2**18
    assert doc["ethereum_keystore"]["crypto"]["kdfparams"]["n"] == 2**18


def test_wrong_password(created: tuple[KeyFile, Identity], tmp_path: Path) -> None:
    path = created[0].save(tmp_path / "k.json")
    with pytest.raises(WrongPasswordError, match="wrong password"):
        load(path, PASSWORD + "!")
    with pytest.raises(WrongPasswordError):
        load(path, "")


def test_file_mode_is_0600_even_with_permissive_umask(created: tuple[KeyFile, Identity], tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = created[0].save(tmp_path / "k.json")
        again = created[0].save(tmp_path / "k2.json", overwrite=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(again.stat().st_mode) == 0o600


def test_refuses_to_overwrite(created: tuple[KeyFile, Identity], tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text("precious")
    with pytest.raises(KeyFileExistsError, match="refusing to overwrite"):
        created[0].save(path)
    assert path.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]  # no temp file left behind
    created[0].save(path, overwrite=True)
    assert load(path, PASSWORD).address == created[1].address
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no key file"):
        load(tmp_path / "nope.json", PASSWORD)


def _mutated(keyfile: KeyFile, mutate: Any) -> dict[str, Any]:
    doc = _doc(keyfile)
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(version=2), "unsupported key file version 2"),
        (lambda d: d.pop("version"), "unsupported key file version None"),
        (lambda d: d.update(format="other"), "not a healthsilk-keyfile"),
        (lambda d: d.update(address="0x123"), "address"),
        (lambda d: d.update(hpke_public_key="0x05aa"), "unknown HPKE suite"),
        (lambda d: d["hpke_private_key"]["kdfparams"].update(n=2**30), "scrypt n"),
        (lambda d: d["hpke_private_key"]["kdfparams"].update(n=1000), "power of two"),
        (lambda d: d["ethereum_keystore"]["crypto"]["kdfparams"].update(n=2**24), "scrypt n"),
        (lambda d: d["ethereum_keystore"]["crypto"].update(kdf="pbkdf2"), "scrypt"),
        (lambda d: d["hpke_private_key"].update(cipher="aes-128-cbc"), "aes-256-gcm"),
        (lambda d: d["hpke_private_key"].update(nonce="00"), "nonce"),
        (lambda d: d["hpke_private_key"].pop("ciphertext"), "ciphertext"),
    ],
)
def test_malformed_documents_are_rejected_before_any_kdf(
    created: tuple[KeyFile, Identity], mutate: Any, message: str
) -> None:
    with pytest.raises(KeyFileFormatError, match=message):
        KeyFile(_mutated(created[0], mutate))


@pytest.mark.parametrize("text", [b"not json", b"[]", b"\xff\xfe", b"{}"])
def test_garbage_files(text: bytes, tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_bytes(text)
    with pytest.raises(KeyFileFormatError):
        load(path, PASSWORD)


def test_tampered_hpke_ciphertext(created: tuple[KeyFile, Identity]) -> None:
    def flip(d: dict[str, Any]) -> None:
        ct = bytearray(bytes.fromhex(d["hpke_private_key"]["ciphertext"]))
        ct[0] ^= 1
        d["hpke_private_key"]["ciphertext"] = ct.hex()

    with pytest.raises(KeyFileFormatError, match="corrupted or was tampered"):
        KeyFile(_mutated(created[0], flip)).unlock(PASSWORD)


def test_transplanted_hpke_section_rejected(created: tuple[KeyFile, Identity]) -> None:
    other, _ = create_identity(PASSWORD, scrypt_n=CHEAP_SCRYPT_N)
    doc = _doc(created[0])
    doc["hpke_private_key"] = _doc(other)["hpke_private_key"]
    doc["hpke_public_key"] = _doc(other)["hpke_public_key"]
    with pytest.raises(KeyFileFormatError):
        KeyFile(doc).unlock(PASSWORD)


def test_keystore_address_mismatch(created: tuple[KeyFile, Identity]) -> None:
    doc = _doc(created[0])
    doc["address"] = str(Account.create().address)
    with pytest.raises(KeyFileFormatError, match="does not match the address"):
        KeyFile(doc).unlock(PASSWORD)


def test_from_identity_imports_existing_keys(tmp_path: Path) -> None:
    identity = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate(SuiteId.MLKEM768X25519_AES256GCM))
    path = KeyFile.from_identity(identity, "pw", scrypt_n=CHEAP_SCRYPT_N).save(tmp_path / "imported.json")
    assert load(path, "pw").hpke_key == identity.hpke_key


def test_rejects_empty_password_and_weak_cost() -> None:
    with pytest.raises(KeyFileError, match="empty"):
        create_identity("", scrypt_n=CHEAP_SCRYPT_N)
    with pytest.raises(KeyFileFormatError, match="scrypt n"):
        create_identity(PASSWORD, scrypt_n=2**8)


def test_unwritable_location_is_a_clear_error(created: tuple[KeyFile, Identity], tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot write key file"):
        created[0].save(tmp_path / "missing-dir" / "k.json")


@pytest.mark.parametrize("suite", ["x25519", None, True, 0x42])
def test_bad_suite_argument(suite: object) -> None:
    with pytest.raises(CryptoError):
        create_identity(PASSWORD, suite=suite, scrypt_n=CHEAP_SCRYPT_N)  # type: ignore[arg-type]
