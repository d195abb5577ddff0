"""Password-protected key files: one JSON document per identity.

Format version 1::

    {
      "format": "healthsilk-keyfile",
      "version": 1,
      "address": "0x<EIP-55 address of the signing key>",
      "hpke_public_key": "0x<suite id || raw public key>",
      "ethereum_keystore": { eth-account V3 keystore, kdf "scrypt" },
      "hpke_private_key": {
        "cipher": "aes-256-gcm",
        "kdf": "scrypt",
        "kdfparams": {"n": 262144, "r": 8, "p": 1, "dklen": 32, "salt": "<hex 32 bytes>"},
        "nonce": "<hex 12 bytes>",
        "ciphertext": "<hex: AES-256-GCM(private key bytes) || tag>"
      }
    }

The HPKE private key's associated data is
``b"healthsilk/keyfile/v1" || address(20) || hpke_public_key`` so the section
can't be transplanted into another identity's file.  Both secrets are under
the same password with independent salts.  Loading bounds the scrypt cost
read from the file (a hostile file can't demand gigabytes of memory) and
checks that the decrypted keys match the public address / key in the file.

Files are written atomically (temp file + link/rename, fsync) with mode 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from eth_account import Account
from eth_account.signers.local import LocalAccount

from crypto.context import normalize_address
from crypto.errors import (
    CryptoError,
    KeyFileError,
    KeyFileExistsError,
    KeyFileFormatError,
    KeyFormatError,
    WrongPasswordError,
)
from crypto.keys import HpkePrivateKey, HpkePublicKey
from crypto.suites import DEFAULT_SUITE, SuiteId

FORMAT_NAME = "healthsilk-keyfile"
FORMAT_VERSION = 1
DEFAULT_SCRYPT_N = 2**18  # geth / eth-account "standard" cost: ~256 MiB, ~1 s per derivation
MIN_SCRYPT_N = 2**10  # below this a file is refused: a test setting leaking into production
MAX_SCRYPT_N = 2**20  # refuse hostile files that would demand > 1 GiB of memory
SCRYPT_R = 8
SCRYPT_P = 1
SALT_LEN = 32
NONCE_LEN = 12
MAX_FILE_BYTES = 64 * 1024
_AAD_LABEL = b"healthsilk/keyfile/v1"


@dataclass(frozen=True)
class Identity:
    """Decrypted keys of one user, held only in the owner's memory."""

    account: LocalAccount = field(repr=False)
    hpke_key: HpkePrivateKey = field(repr=False)

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def hpke_public_key(self) -> HpkePublicKey:
        return self.hpke_key.public_key()

    def __repr__(self) -> str:
        return f"Identity(address={self.address}, hpke_suite={self.hpke_key.suite.name})"


def _check_password(password: object) -> bytes:
    if not isinstance(password, str):
        raise KeyFileError(f"password must be a str, got {type(password).__name__}")
    return password.encode("utf-8")


def _check_scrypt_n(n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 2 or n & (n - 1):
        raise KeyFileFormatError(f"scrypt n must be a power of two, got {n!r}")
    if not MIN_SCRYPT_N <= n <= MAX_SCRYPT_N:
        raise KeyFileFormatError(f"scrypt n must be between 2**10 and 2**20, got {n}")
    return n


def _check_kdfparams(params: object, where: str) -> dict[str, Any]:
    """Validate scrypt parameters read from a file before spending any memory on them."""
    if not isinstance(params, dict):
        raise KeyFileFormatError(f"{where}: kdfparams must be an object")
    try:
        _check_scrypt_n(params["n"])
        if params["r"] != SCRYPT_R or params["p"] != SCRYPT_P or params["dklen"] != 32:
            raise KeyFileFormatError(f"{where}: scrypt r/p/dklen must be {SCRYPT_R}/{SCRYPT_P}/32")
        salt = bytes.fromhex(str(params["salt"]))
    except KeyError as exc:
        raise KeyFileFormatError(f"{where}: kdfparams missing {exc}") from None
    except ValueError as exc:
        if isinstance(exc, KeyFileFormatError):
            raise KeyFileFormatError(f"{where}: {exc}") from None
        raise KeyFileFormatError(f"{where}: salt is not hex") from None
    if not 16 <= len(salt) <= 64:
        raise KeyFileFormatError(f"{where}: salt must be 16..64 bytes")
    return params


def _scrypt(password: bytes, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(password)


def _hpke_aad(address: str, public_key: bytes) -> bytes:
    return _AAD_LABEL + bytes.fromhex(address[2:]) + public_key


class KeyFile:
    """The encrypted, serializable form of an :class:`Identity`."""

    def __init__(self, document: dict[str, Any]) -> None:
        # Own a deep copy so later mutation by the caller can't bypass validation.
        try:
            copied = json.loads(json.dumps(document))
        except (TypeError, ValueError) as exc:
            raise KeyFileFormatError(f"key file document is not JSON-serializable: {exc}") from None
        self._doc = _validate_document(copied)

    # -- creation ---------------------------------------------------------------
    @classmethod
    def from_identity(cls, identity: Identity, password: str, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> KeyFile:
        """Encrypt an existing identity (e.g. an imported signing key) under ``password``."""
        pw = _check_password(password)
        if not pw:
            raise KeyFileError("password must not be empty")
        n = _check_scrypt_n(scrypt_n)
        keystore = Account.encrypt(identity.account.key, password, kdf="scrypt", iterations=n)
        public = identity.hpke_public_key.to_bytes()
        salt = secrets.token_bytes(SALT_LEN)
        nonce = secrets.token_bytes(NONCE_LEN)
        ct = AESGCM(_scrypt(pw, salt, n)).encrypt(
            nonce, identity.hpke_key.to_bytes(), _hpke_aad(identity.address, public)
        )
        return cls(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "address": identity.address,
                "hpke_public_key": "0x" + public.hex(),
                "ethereum_keystore": keystore,
                "hpke_private_key": {
                    "cipher": "aes-256-gcm",
                    "kdf": "scrypt",
                    "kdfparams": {"n": n, "r": SCRYPT_R, "p": SCRYPT_P, "dklen": 32, "salt": salt.hex()},
                    "nonce": nonce.hex(),
                    "ciphertext": ct.hex(),
                },
            }
        )

    # -- accessors (public data only) -----------------------------------------------
    @property
    def address(self) -> str:
        return str(self._doc["address"])

    @property
    def hpke_public_key(self) -> HpkePublicKey:
        return HpkePublicKey.from_hex(self._doc["hpke_public_key"])

    def to_json(self) -> str:
        return json.dumps(self._doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> KeyFile:
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyFileFormatError(f"key file is not valid JSON: {exc}") from None
        return cls(doc)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> KeyFile:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise KeyFileError(f"no key file at {p}") from None
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {p}: {exc.strerror}") from None
        if len(data) > MAX_FILE_BYTES:
            raise KeyFileFormatError(f"{p} is too large to be a key file")
        return cls.from_json(data)

    # -- persistence ---------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write atomically with mode 0600; refuse to replace an existing file unless ``overwrite``."""
        target = Path(path)
        directory = target.parent
        if not overwrite and target.exists():
            raise KeyFileExistsError(f"{target} already exists; refusing to overwrite it")
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise KeyFileError(f"cannot write key file {target}: {exc.strerror}") from None
        try:
            os.fchmod(fd, 0o600)  # mkstemp already uses 0600; be explicit, umask can't widen it
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            if overwrite:
                os.replace(tmp_name, target)
            else:
                try:
                    os.link(tmp_name, target)  # atomic create-if-absent: never clobbers a racing writer
                except FileExistsError:
                    raise KeyFileExistsError(f"{target} already exists; refusing to overwrite it") from None
                os.unlink(tmp_name)
        except BaseException as exc:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            if isinstance(exc, OSError) and not isinstance(exc, KeyFileError):
                raise KeyFileError(f"cannot write key file {target}: {exc.strerror}") from None
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return target

    # -- decryption ------------------------------------------------------------------
    def unlock(self, password: str) -> Identity:
        """Decrypt both keys; a wrong password raises :class:`WrongPasswordError`."""
        pw = _check_password(password)
        doc = self._doc
        try:
            secret = Account.decrypt(doc["ethereum_keystore"], password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WrongPasswordError("wrong password for this key file") from None
            raise KeyFileFormatError(f"ethereum keystore is malformed: {exc}") from None
        except (KeyError, TypeError) as exc:
            raise KeyFileFormatError(f"ethereum keystore is malformed: {exc!r}") from None
        account: LocalAccount = Account.from_key(secret)
        if account.address != doc["address"]:
            raise KeyFileFormatError("ethereum keystore does not match the address recorded in the key file")

        section = doc["hpke_private_key"]
        params = section["kdfparams"]
        public = bytes.fromhex(doc["hpke_public_key"][2:])
        try:
            key = _scrypt(pw, bytes.fromhex(params["salt"]), params["n"])
            raw = AESGCM(key).decrypt(
                bytes.fromhex(section["nonce"]),
                bytes.fromhex(section["ciphertext"]),
                _hpke_aad(account.address, public),
            )
        except InvalidTag:
            # The same password just opened the signing key, so this is damage, not a typo.
            raise KeyFileFormatError("HPKE private key section is corrupted or was tampered with") from None
        try:
            hpke_key = HpkePrivateKey.from_bytes(raw)
        except KeyFormatError as exc:
            raise KeyFileFormatError(f"HPKE private key is malformed: {exc}") from None
        if hpke_key.public_key().to_bytes() != public:
            raise KeyFileFormatError("HPKE private key does not match the public key recorded in the key file")
        return Identity(account=account, hpke_key=hpke_key)


def _validate_document(doc: object) -> dict[str, Any]:
    """Structural checks that need no password; raise KeyFileFormatError on the first defect."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise KeyFileFormatError(f"not a {FORMAT_NAME} document")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise KeyFileFormatError(f"unsupported key file version {version!r} (this build reads {FORMAT_VERSION})")
    try:
        if normalize_address(doc["address"]) != doc["address"]:
            raise KeyFileFormatError("address must be EIP-55 checksummed")
        HpkePublicKey.from_hex(doc["hpke_public_key"])
        keystore = doc["ethereum_keystore"]
        if not isinstance(keystore, dict) or keystore.get("version") != 3:
            raise KeyFileFormatError("ethereum_keystore must be a V3 keystore")
        crypto_section = keystore.get("crypto") or keystore.get("Crypto")
        if not isinstance(crypto_section, dict) or crypto_section.get("kdf") != "scrypt":
            raise KeyFileFormatError("ethereum_keystore must use the scrypt kdf")
        _check_kdfparams(crypto_section.get("kdfparams"), "ethereum_keystore")
        section = doc["hpke_private_key"]
        if not isinstance(section, dict):
            raise KeyFileFormatError("hpke_private_key must be an object")
        if section.get("cipher") != "aes-256-gcm" or section.get("kdf") != "scrypt":
            raise KeyFileFormatError("hpke_private_key must use scrypt + aes-256-gcm")
        _check_kdfparams(section.get("kdfparams"), "hpke_private_key")
        if len(bytes.fromhex(section["nonce"])) != NONCE_LEN:
            raise KeyFileFormatError(f"hpke_private_key nonce must be {NONCE_LEN} bytes")
        bytes.fromhex(section["ciphertext"])
    except KeyFileFormatError:
        raise
    except CryptoError as exc:  # bad address / public key
        raise KeyFileFormatError(f"key file field invalid: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeyFileFormatError(f"key file is missing or has a malformed field: {exc!r}") from None
    return doc


def create_identity(
    password: str, *, suite: SuiteId | int = DEFAULT_SUITE, scrypt_n: int = DEFAULT_SCRYPT_N
) -> tuple[KeyFile, Identity]:
    """Generate a signing key and an HPKE key pair, and their encrypted key file."""
    identity = Identity(account=Account.create(), hpke_key=HpkePrivateKey.generate(suite))
    return KeyFile.from_identity(identity, password, scrypt_n=scrypt_n), identity


def load(path: str | os.PathLike[str], password: str) -> Identity:
    """Read and decrypt the key file at ``path``."""
    return KeyFile.read(path).unlock(password)
