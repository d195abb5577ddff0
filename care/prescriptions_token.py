"""The printed prescription token for patients without a phone (issue 14): a QR code holding the prescription id
and a one-time secret whose keccak256 hash the prescriber put on chain (ledger.prescriptions.token_hash).

Text form: `HSRX1:<prescription id, 64 hex>:<secret, 64 hex>`; uppercase-safe and short enough for a small QR
(alphanumeric mode would not cover lower-case hex, so the text is upper-cased: QR alphanumeric mode holds it in
fewer modules). Whoever holds the paper holds the token, as with the NHS prescription token; it works once.
"""

from __future__ import annotations

import io
import re

import segno

from i18n import _

PREFIX = "HSRX1"
_TOKEN = re.compile(r"^HSRX1:([0-9A-F]{64}):([0-9A-F]{64})$")


class TokenError(ValueError):
    """A token that is not a healthsilk prescription token."""


def encode(prescription_id: bytes, secret: bytes) -> str:
    if len(prescription_id) != 32 or len(secret) != 32:
        raise TokenError(_("a prescription token holds a 32-byte id and a 32-byte secret"))
    return f"{PREFIX}:{prescription_id.hex().upper()}:{secret.hex().upper()}"


def decode(text: str) -> tuple[bytes, bytes]:
    """(prescription id, secret) of a token's text; TokenError when it is not one."""
    found = _TOKEN.match(text.strip().upper())
    if found is None:
        raise TokenError(_("this is not a healthsilk prescription token (expected {prefix}:<id>:<secret>)").format(prefix=PREFIX))
    return bytes.fromhex(found.group(1)), bytes.fromhex(found.group(2))


def qr_svg(text: str) -> str:
    """The token as an SVG QR code (error correction M: it survives a crease in the paper)."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="svg", scale=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def qr_text(text: str) -> str:
    """The token as a QR code drawn with block characters, for a terminal."""
    buffer = io.StringIO()
    segno.make(text, error="m", micro=False).terminal(out=buffer, compact=True)
    return buffer.getvalue()
