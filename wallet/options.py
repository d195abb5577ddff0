"""Options every wallet command shares, and the wrapper that turns failures into plain words."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional, ParamSpec, TypeVar

import click
import typer

from crypto import CryptoError
from i18n import _
from wallet import render
from wallet.errors import WalletError

DEBUG_ENV = "HEALTHSILK_DEBUG"
P = ParamSpec("P")
R = TypeVar("R")

WalletOpt = Annotated[
    Optional[Path],
    typer.Option("--wallet", help="Wallet (key) file. Default: $HEALTHSILK_WALLET, else ~/.healthsilk/wallet.json.", show_default=False),
]
ApiOpt = Annotated[
    Optional[str],
    typer.Option("--api", help="URL of the institution's healthsilk API. Default: $HEALTHSILK_API_URL, else http://127.0.0.1:8701.", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Sign without asking for confirmation (the checks still run).")]
ForOpt = Annotated[
    Optional[str],
    typer.Option(
        "--for", metavar="PATIENT", show_default=False,
        help="Act as delegate (guardian or carer) of this patient: their wallet address (0x...). You sign with your own wallet; "
        "the ledger must name you as their delegate now.",
    ),
]


def friendly(command: Callable[P, R]) -> Callable[P, R]:
    """Every failure ends as 'Error: ... / What to do: ...' and a non-zero exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except WalletError as exc:
            render.error(exc)
            raise typer.Exit(exc.exit_code) from None
        except CryptoError as exc:
            render.error(WalletError(_("A cryptographic check failed: {error}.").format(error=exc), _("The data may be damaged or not meant for this wallet; nothing was changed.")))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            render.error(WalletError(_("Interrupted."), _("Nothing more was sent.")))
            raise typer.Exit(130) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # a bug or an unforeseen answer: still plain words, details on request
            if os.environ.get(DEBUG_ENV):
                raise
            render.error(WalletError(_("Unexpected error ({kind}: {error}).").format(kind=type(exc).__name__, error=exc), _("This is a wallet bug or an unexpected API answer; rerun with {variable}=1 for details and report it.").format(variable=DEBUG_ENV)))
            raise typer.Exit(70) from None

    return wrapper
