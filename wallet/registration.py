"""Putting the patient's HPKE public key on the ledger (ConsentLedger.registerPatientBySig, relayed).

The API contract has no route that says whether a patient is registered, so the wallet asks
`GET /v1/patients/{address}` when the API offers it and otherwise remembers, next to the key file,
which network (chain id + ConsentLedger address) it registered this key on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from i18n import _
from wallet import render
from wallet.session import PatientSession
from wallet.typed_data import Expected


def _marker_path(session: PatientSession) -> Path:
    return session.wallet_path.with_name(session.wallet_path.name + ".networks.json")


def _network_key(session: PatientSession) -> str:
    network = session.network()
    return f"{network.chain_id}:{network.consent_ledger}"


def _read_marker(session: PatientSession) -> dict[str, Any]:
    try:
        data = json.loads(_marker_path(session).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(session: PatientSession, key_hex: str) -> None:
    data = _read_marker(session)
    data[_network_key(session)] = {"registered_key": key_hex}
    path = _marker_path(session)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except OSError:
        pass  # only a cache: the next grant would simply register again


def registered_key(session: PatientSession) -> str | None:
    """The key the ledger holds for this patient (0x-hex), or None when not registered (as far as we know)."""
    answer = session.client.patient(session.address)
    if isinstance(answer, dict) and "hpke_public_key" in answer:
        key = answer["hpke_public_key"]
        return str(key).lower() if key else None
    entry = _read_marker(session).get(_network_key(session))
    return str(entry.get("registered_key")).lower() if isinstance(entry, dict) and entry.get("registered_key") else None


def register(session: PatientSession, *, yes: bool, force: bool = False) -> dict[str, Any] | None:
    """Sign and relay RegisterPatient for this wallet's key; skipped when already registered unless ``force``."""
    own = session.keyfile.hpke_public_key.to_hex().lower()
    if not force and registered_key(session) == own:
        return None
    if not force:
        render.info(_("Your encryption key is not on the ledger yet; registering it first."))
    body = {"action": "register", "patient": session.address, "hpke_public_key": own}
    result = session.sign_and_send(body, Expected("RegisterPatient", session.address, {"hpkePublicKey": own}), yes=yes)
    _remember(session, own)
    return result


def ensure_registered(session: PatientSession, *, yes: bool) -> None:
    register(session, yes=yes, force=False)
