"""One command's session: the unlocked wallet, the logged-in API client, and the sign-and-relay flow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from eth_utils import is_address, to_checksum_address

from crypto import Identity, KeyFile
from i18n import _
from wallet import render
from wallet.client import ApiClient, resolve_api_url
from wallet.errors import WalletError
from wallet.keystore import read_wallet, resolve_wallet_path, unlock_wallet
from wallet.typed_data import (
    Expected,
    NetworkInfo,
    check_typed_data,
    describe,
    sign_typed_data,
)


class PatientSession:
    """Lazily unlocks the wallet and logs in; the patient token never outlives the command."""

    def __init__(self, api: str | None, wallet: Path | None) -> None:
        self.wallet_path = resolve_wallet_path(wallet)
        self.api_url = resolve_api_url(api)
        self._keyfile: KeyFile | None = None
        self._identity: Identity | None = None
        self._client: ApiClient | None = None
        self._network: NetworkInfo | None = None
        self._members: list[dict[str, Any]] | None = None

    def __enter__(self) -> PatientSession:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()

    # -- the wallet -------------------------------------------------------------------------
    @property
    def keyfile(self) -> KeyFile:
        if self._keyfile is None:
            self._keyfile = read_wallet(self.wallet_path)
        return self._keyfile

    @property
    def address(self) -> str:
        return self.keyfile.address

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self.keyfile  # a missing wallet is reported before asking for a password
            self._identity = unlock_wallet(self.wallet_path)
        return self._identity

    # -- the API ----------------------------------------------------------------------------
    @property
    def client(self) -> ApiClient:
        if self._client is None:
            client = ApiClient(self.api_url)
            try:
                client.login(self.identity.account)
            except BaseException:
                client.close()
                raise
            self._client = client
        return self._client

    def network(self) -> NetworkInfo:
        if self._network is None:
            self._network = NetworkInfo.from_api(self.client.network())
        return self._network

    def members(self) -> list[dict[str, Any]]:
        if self._members is None:
            self._members = self.client.members()
        return self._members

    def names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for member in self.members():
            try:
                names[to_checksum_address(member["address"])] = str(member.get("name") or "")
            except (KeyError, ValueError, TypeError):
                continue
        return names

    def resolve_member(self, text: str) -> dict[str, Any]:
        """A member institution by address or name (case-insensitive; a unique part of the name will do)."""
        members = self.members()
        wanted = text.strip()
        if is_address(wanted):
            address = to_checksum_address(wanted)
            found = [m for m in members if str(m.get("address", "")).lower() == address.lower()]
        else:
            lowered = wanted.lower()
            found = [m for m in members if str(m.get("name", "")).lower() == lowered]
            if not found:
                found = [m for m in members if lowered and lowered in str(m.get("name", "")).lower()]
        listing = "; ".join(f"{m.get('name')} ({m.get('country')})" for m in members) or _("none")
        if not found:
            raise WalletError(_("No member institution matches {text}.").format(text=repr(text)), _("Use a member's name or address. Members: {members}.").format(members=listing))
        if len(found) > 1:
            raise WalletError(
                _("{text} matches several institutions: {names}.").format(text=repr(text), names=", ".join(str(m.get("name")) for m in found)),
                _("Give the full name or the address."),
            )
        member = found[0]
        if str(member.get("status", "ACTIVE")).upper() != "ACTIVE":
            raise WalletError(_("{name} is not an active member of the consortium (status: {status}).").format(name=member.get("name"), status=str(member.get("status")).lower()), _("Only active members can be granted consent."))
        return member

    # -- signing ----------------------------------------------------------------------------
    def sign_and_send(self, body: dict[str, Any], expected: Expected, *, yes: bool) -> dict[str, Any]:
        """prepare -> check everything -> show in plain words -> confirm -> sign locally -> relay."""
        client = self.client
        network = self.network()
        prepared = client.prepare(body)
        typed = prepared["typed_data"]
        message = check_typed_data(typed, expected, network)
        names = self.names()
        institution = network.institution_name or self.api_url
        render.info(_("[bold]You are about to sign[/] (relayed by {institution}):").format(institution=render.escape(institution)))
        for line in describe(typed["primaryType"], message, names):
            render.info(f"  • {render.escape(line)}")
        if not yes and not _confirm(_("Sign and send this?")):
            raise WalletError(_("Not signed: you declined."), _("Nothing was sent. Pass --yes to sign without the question."))
        signature = sign_typed_data(self.identity.account, typed)
        return client.relay(typed, signature)


def _confirm(question: str) -> bool:
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:  # end of input (e.g. not a terminal)
        return False
