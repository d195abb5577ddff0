"""The patient's key file on disk: where it lives, its password, creating and unlocking it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import typer

from crypto import (
    DEFAULT_SUITE,
    Identity,
    KeyFile,
    KeyFileError,
    KeyFileExistsError,
    KeyFileFormatError,
    SuiteId,
    WrongPasswordError,
    create_identity,
)
from crypto.keyfile import DEFAULT_SCRYPT_N, MAX_SCRYPT_N, MIN_SCRYPT_N
from wallet.errors import WalletError

WALLET_ENV = "HEALTHSILK_WALLET"
PASSWORD_ENV = "HEALTHSILK_WALLET_PASSWORD"
# Lowers the key-file KDF cost; meant for tests and demos only (the crypto layer refuses < 2**10).
SCRYPT_N_ENV = "HEALTHSILK_WALLET_SCRYPT_N"
MIN_PASSWORD_LENGTH = 8


def default_wallet_path() -> Path:
    return Path.home() / ".healthsilk" / "wallet.json"


def resolve_wallet_path(option: Path | None) -> Path:
    """--wallet, else $HEALTHSILK_WALLET, else ~/.healthsilk/wallet.json."""
    if option is not None:
        return option.expanduser()
    env = os.environ.get(WALLET_ENV, "").strip()
    return Path(env).expanduser() if env else default_wallet_path()


def scrypt_cost() -> int:
    raw = os.environ.get(SCRYPT_N_ENV, "").strip()
    if not raw:
        return DEFAULT_SCRYPT_N
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < MIN_SCRYPT_N or n > MAX_SCRYPT_N or n & (n - 1):
        raise WalletError(
            f"{SCRYPT_N_ENV}={raw!r} is not a usable scrypt cost.",
            f"Unset it (the secure default is {DEFAULT_SCRYPT_N}) or use a power of two between {MIN_SCRYPT_N} and {MAX_SCRYPT_N}.",
        )
    return n


def read_password(*, confirm: bool) -> str:
    """The wallet password from $HEALTHSILK_WALLET_PASSWORD, else a hidden prompt (twice when creating)."""
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env
    try:
        return str(typer.prompt("Wallet password", hide_input=True, confirmation_prompt="Repeat the password" if confirm else False, err=True))
    except typer.Abort:
        raise WalletError("No password given.", f"Type the wallet password when asked, or set {PASSWORD_ENV}.") from None


def refuse_existing(path: Path) -> None:
    """Never replace a wallet: its keys are the only way to read the records encrypted to it."""
    if path.exists():
        raise WalletError(
            f"A wallet already exists at {path}.",
            "Use it (healthsilk wallet show), or pass --wallet FILE to create another one elsewhere. "
            "Deleting a wallet loses access to your records for good.",
        )


def create_wallet(path: Path, password: str, *, hybrid: bool = False) -> KeyFile:
    """Generate keys and write the key file (mode 0600); never replaces an existing wallet."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WalletError(
            f"The password is too short (at least {MIN_PASSWORD_LENGTH} characters).",
            "Choose a longer password; it is the only thing protecting your keys if the file is copied.",
        )
    refuse_existing(path)
    suite = SuiteId.MLKEM768X25519_AES256GCM if hybrid else DEFAULT_SUITE
    keyfile, _identity = create_identity(password, suite=suite, scrypt_n=scrypt_cost())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise WalletError(f"Cannot create the folder {path.parent}: {exc.strerror}.", "Pick another place with --wallet FILE.") from None
    try:
        keyfile.save(path)
    except KeyFileExistsError:
        raise WalletError(f"A wallet already exists at {path}.", "Pass --wallet FILE to create another one elsewhere.") from None
    except KeyFileError as exc:
        raise WalletError(f"Cannot write the wallet: {exc}.", "Pick another place with --wallet FILE.") from None
    return keyfile


def read_wallet(path: Path) -> KeyFile:
    """The public half of the wallet (no password needed)."""
    if not path.exists():
        raise WalletError(f"No wallet at {path}.", "Create one with: healthsilk wallet create (or point --wallet / HEALTHSILK_WALLET at yours).")
    try:
        return KeyFile.read(path)
    except KeyFileFormatError as exc:
        raise WalletError(f"{path} is not a usable healthsilk wallet: {exc}.", "Check the path given with --wallet / HEALTHSILK_WALLET; restore the file from your backup if it was damaged.") from None
    except KeyFileError as exc:
        raise WalletError(f"Cannot read the wallet: {exc}.", "Check the path and the file's permissions.") from None


def unlock_wallet(path: Path, password: str | None = None) -> Identity:
    """Decrypt the wallet's keys (asking for the password if not given)."""
    keyfile = read_wallet(path)
    secret = read_password(confirm=False) if password is None else password
    try:
        return keyfile.unlock(secret)
    except WrongPasswordError:
        where = f" (from {PASSWORD_ENV})" if os.environ.get(PASSWORD_ENV) is not None and password is None else ""
        raise WalletError(f"Wrong password for the wallet at {path}{where}.", "Try again with the password you chose at 'healthsilk wallet create'.") from None
    except KeyFileFormatError as exc:
        raise WalletError(f"The wallet at {path} is damaged: {exc}.", "Restore the file from your backup.") from None


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
