"""One command's session: the unlocked wallet, the logged-in API client, and the sign-and-relay flow.

With `--for PATIENT` the wallet's owner acts as the patient's delegate (guardian or carer): it signs in and signs
with its own key (`address`), for the patient (`patient`). The API checks on every request that the ledger names
it the patient's delegate now; the session asks once up front, so a non-delegate hears it in plain words first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import typer
from eth_utils import is_address, to_checksum_address

from crypto import Identity, KeyFile
from i18n import _
from i18n.formatting import date_text, datetime_text
from i18n.vocabulary import category_display, joined, purpose_display
from ledger.vocabulary import category_names, purpose_names
from wallet import render
from wallet.client import ApiClient, resolve_api_url
from wallet.errors import ApiError, WalletError
from wallet.keystore import read_wallet, resolve_wallet_path, unlock_wallet
from wallet.typed_data import (
    Expected,
    ZERO_ADDRESS,
    NetworkInfo,
    check_typed_data,
    describe,
    sign_typed_data,
)


class PatientSession:
    """Lazily unlocks the wallet and logs in; the patient token never outlives the command."""

    def __init__(self, api: str | None, wallet: Path | None, for_patient: str | None = None) -> None:
        self.wallet_path = resolve_wallet_path(wallet)
        self.api_url = resolve_api_url(api)
        self._for = _patient_address(for_patient)
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
        """The wallet's own address: who signs in and who signs."""
        return self.keyfile.address

    @property
    def patient(self) -> str:
        """Whose data the command is about: the `--for` patient, else the wallet's owner."""
        return self._for or self.address

    @property
    def as_delegate(self) -> bool:
        return self._for is not None and self._for != self.address

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
                if self.as_delegate:
                    self._check_delegate(client)
            except BaseException:
                client.close()
                raise
            self._client = client
        return self._client

    def _check_delegate(self, client: ApiClient) -> None:
        """Refuse early, in plain words, unless the ledger names this wallet the patient's delegate now."""
        try:
            delegate = client.delegate_of(self.patient)
        except ApiError as exc:
            if exc.status != 403:
                raise
            delegate = None
        if delegate is None or to_checksum_address(delegate) != self.address:
            raise WalletError(
                _("You ({wallet}) are not the delegate of patient {patient} on the ledger now.").format(wallet=self.address, patient=self.patient),
                _("The patient appoints you with: healthsilk delegate add {wallet}. Without --for you act for yourself.").format(wallet=self.address),
            )

    @contextmanager
    def member_api(self, address: str, no_endpoint: Callable[[str], WalletError]) -> Iterator[ApiClient]:
        """A member institution's API, signed in with this wallet: this session's API if it is that member's, else the
        member's own from the consortium directory, checked to be that member on this network. `no_endpoint(name)` is
        the error when the member publishes no API address."""
        address = to_checksum_address(address)
        network = self.network()
        if network.institution_address and to_checksum_address(network.institution_address) == address:
            yield self.client
            return
        member = next((m for m in self.members() if str(m.get("address", "")).lower() == address.lower()), None)
        endpoint = str((member or {}).get("endpoint") or "").strip().rstrip("/")
        name = str((member or {}).get("name") or address)
        if not endpoint.startswith(("http://", "https://")):
            raise no_endpoint(name)
        client = ApiClient(endpoint)
        try:
            client.login(self.identity.account)
            theirs = NetworkInfo.from_api(client.network())
            if to_checksum_address(theirs.institution_address or ZERO_ADDRESS) != address or (theirs.chain_id, theirs.consent_ledger) != (network.chain_id, network.consent_ledger):
                raise WalletError(_("The API at {url} is not {institution} on this network.").format(url=endpoint, institution=name), _("Tell the consortium: its directory entry points elsewhere."))
            yield client
        finally:
            client.close()

    def author_api(self, author: str) -> AbstractContextManager[ApiClient]:
        """The API of the institution that holds a record's key (its author), signed in with this wallet (as delegate,
        when acting for a patient) so that it can release the key to us."""
        return self.member_api(author, lambda name: WalletError(
            _("{institution}, which wrote this record, publishes no API address in the consortium directory, so its key can't be asked for now.").format(institution=name),
            _("Ask for it again later, or ask {institution} directly.").format(institution=name),
        ))

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
        if self.as_delegate:
            if expected.primary_type not in DELEGATE_SIGNS:
                raise WalletError(_("A delegate may not sign this for the patient."), _("Only the patient's own wallet can; run the command without --for on it."))
            body = {**body, "signer": self.address}  # the delegate signs with its own key and nonce
        prepared = client.prepare(body)
        typed = prepared["typed_data"]
        message = check_typed_data(typed, expected, network)
        names = self.names()
        institution = network.institution_name or self.api_url
        if self.as_delegate:
            render.info(_("[bold]As delegate of patient {patient}, you ({signer}) are about to sign[/] (relayed by {institution}):").format(
                patient=self.patient, signer=self.address, institution=render.escape(institution)))
            lines = describe_as_delegate(typed["primaryType"], message, names, self.address)
        else:
            render.info(_("[bold]You are about to sign[/] (relayed by {institution}):").format(institution=render.escape(institution)))
            lines = describe(typed["primaryType"], message, names)
        for line in lines:
            render.info(f"  • {render.escape(line)}")
        if not yes and not _confirm(_("Sign and send this?")):
            raise WalletError(_("Not signed: you declined."), _("Nothing was sent. Pass --yes to sign without the question."))
        signature = sign_typed_data(self.identity.account, typed)
        return client.relay(typed, signature)


DELEGATE_SIGNS = ("GrantConsent", "RevokeConsent")  # what ConsentLedger lets a delegate sign for the patient


def _patient_address(text: str | None) -> str | None:
    if text is None:
        return None
    wanted = text.strip()
    if not is_address(wanted):
        raise WalletError(
            _("--for {text} is not a patient's address.").format(text=repr(text)),
            _("Give the patient's wallet address: 0x followed by 40 hex digits (see 'healthsilk wallet show' on their wallet)."),
        )
    return to_checksum_address(wanted)


def describe_as_delegate(primary: str, message: dict[str, Any], names: dict[str, str], signer: str) -> list[str]:
    """A delegate's signature in plain words: what it does to the patient's consents (built here, not by the API)."""

    def who(address: str) -> str:
        name = names.get(address)
        return _("{name} ({address})").format(name=name, address=address) if name else address

    patient = message["patient"]
    if primary == "RevokeConsent":
        lines = [
            _("As delegate of patient {patient}, you ({signer}) withdraw the consent the patient gave {institution}").format(patient=patient, signer=signer, institution=who(message["grantee"])),
            _("(effective from the next block)"),
        ]
    else:
        categories, purposes = category_names(message["categories"]), purpose_names(message["purposes"])
        lines = [
            _("As delegate of patient {patient}, you ({signer}) allow {institution}").format(patient=patient, signer=signer, institution=who(message["grantee"])),
            _("to see the patient's records of these categories: {categories}").format(categories=f"{', '.join(categories)} ({joined(category_display(categories))})"),
            _("for these purposes: {purposes}").format(purposes=f"{', '.join(purposes)} ({joined(purpose_display(purposes))})"),
            _("from {start} until {end}").format(start=datetime_text(message["validFrom"]), end=datetime_text(message["validUntil"])),
        ]
        if message["dataFrom"] or message["dataUntil"]:
            first = date_text(message["dataFrom"]) if message["dataFrom"] else _("the first record")
            last = date_text(message["dataUntil"] - 1) if message["dataUntil"] else _("any later record")
            lines.append(_("covering only the patient's records dated from {first} up to and including {last}").format(first=first, last=last))
        lines.append(_("(this replaces any earlier consent the patient gave them)"))
    lines.append(_("signed by you as delegate; nonce {nonce} (yours); signature valid until {time}").format(nonce=message["nonce"], time=datetime_text(message["deadline"])))
    return lines


def _confirm(question: str) -> bool:
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:  # end of input (e.g. not a terminal)
        return False
