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
from i18n import _
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
            _("{variable}={value} is not a usable scrypt cost.").format(variable=SCRYPT_N_ENV, value=repr(raw)),
            _("Unset it (the secure default is {default}) or use a power of two between {low} and {high}.").format(default=DEFAULT_SCRYPT_N, low=MIN_SCRYPT_N, high=MAX_SCRYPT_N),
        )
    return n


def read_password(*, confirm: bool) -> str:
    """The wallet password from $HEALTHSILK_WALLET_PASSWORD, else a hidden prompt (twice when creating)."""
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env
    try:
        return str(typer.prompt(_("Wallet password"), hide_input=True, confirmation_prompt=_("Repeat the password") if confirm else False, err=True))
    except typer.Abort:
        raise WalletError(_("No password given."), _("Type the wallet password when asked, or set {variable}.").format(variable=PASSWORD_ENV)) from None


def refuse_existing(path: Path) -> None:
    """Never replace a wallet: its keys are the only way to read the records encrypted to it."""
    if path.exists():
        raise WalletError(
            _("A wallet already exists at {path}.").format(path=path),
            _("Use it (healthsilk wallet show), or pass --wallet FILE to create another one elsewhere. "
              "Deleting a wallet loses access to your records for good."),
        )


def create_wallet(path: Path, password: str, *, hybrid: bool = False) -> KeyFile:
    """Generate keys and write the key file (mode 0600); never replaces an existing wallet."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WalletError(
            _("The password is too short (at least {count} characters).").format(count=MIN_PASSWORD_LENGTH),
            _("Choose a longer password; it is the only thing protecting your keys if the file is copied."),
        )
    refuse_existing(path)
    suite = SuiteId.MLKEM768X25519_AES256GCM if hybrid else DEFAULT_SUITE
    keyfile, _identity = create_identity(password, suite=suite, scrypt_n=scrypt_cost())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise WalletError(_("Cannot create the folder {path}: {reason}.").format(path=path.parent, reason=exc.strerror), _("Pick another place with --wallet FILE.")) from None
    try:
        keyfile.save(path)
    except KeyFileExistsError:
        raise WalletError(_("A wallet already exists at {path}.").format(path=path), _("Pass --wallet FILE to create another one elsewhere.")) from None
    except KeyFileError as exc:
        raise WalletError(_("Cannot write the wallet: {error}.").format(error=exc), _("Pick another place with --wallet FILE.")) from None
    return keyfile


def read_wallet(path: Path) -> KeyFile:
    """The public half of the wallet (no password needed)."""
    if not path.exists():
        raise WalletError(_("No wallet at {path}.").format(path=path), _("Create one with: healthsilk wallet create (or point --wallet / HEALTHSILK_WALLET at yours)."))
    try:
        return KeyFile.read(path)
    except KeyFileFormatError as exc:
        raise WalletError(_("{path} is not a usable healthsilk wallet: {error}.").format(path=path, error=exc), _("Check the path given with --wallet / HEALTHSILK_WALLET; restore the file from your backup if it was damaged.")) from None
    except KeyFileError as exc:
        raise WalletError(_("Cannot read the wallet: {error}.").format(error=exc), _("Check the path and the file's permissions.")) from None


def unlock_wallet(path: Path, password: str | None = None) -> Identity:
    """Decrypt the wallet's keys (asking for the password if not given)."""
    keyfile = read_wallet(path)
    secret = read_password(confirm=False) if password is None else password
    try:
        return keyfile.unlock(secret)
    except WrongPasswordError:
        if os.environ.get(PASSWORD_ENV) is not None and password is None:
            wrong = _("Wrong password for the wallet at {path} (from {variable}).").format(path=path, variable=PASSWORD_ENV)
        else:
            wrong = _("Wrong password for the wallet at {path}.").format(path=path)
        raise WalletError(wrong, _("Try again with the password you chose at 'healthsilk wallet create'.")) from None
    except KeyFileFormatError as exc:
        raise WalletError(_("The wallet at {path} is damaged: {error}.").format(path=path, error=exc), _("Restore the file from your backup.")) from None


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
