"""`healthsilk api serve | token create`: run this institution's API, mint its tokens."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from api.settings import ApiSettings
from i18n import _

PASSWORD_ENV = "HEALTHSILK_MEMBER_PASSWORD"
app = typer.Typer(help="Run this institution's HTTP API and manage its API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Institution API tokens (stored hashed in the API's data dir).", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="the API's data dir [default: $HEALTHSILK_API_DATA_DIR or <network data dir>/api]")]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings(data_dir: Path | None, **overrides: object) -> ApiSettings:
    settings = ApiSettings()
    updates = {key: value for key, value in {"data_dir": data_dir, **overrides}.items() if value is not None}
    return settings.model_copy(update=updates).resolved()


@app.command()
def serve(
    member_key: Annotated[Path, typer.Option("--member-key", exists=True, dir_okay=False, help="the institution's key file (signing + HPKE keys)")],
    host: Annotated[Optional[str], typer.Option(help="loopback address to bind [default: 127.0.0.1]")] = None,
    port: Annotated[Optional[int], typer.Option(help="port [default: 8701 or $HEALTHSILK_API_PORT]")] = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the API for the member whose key file is given (password from $HEALTHSILK_MEMBER_PASSWORD or a prompt)."""
    import uvicorn

    from api.app import create_app
    from crypto import CryptoError, load

    settings = _settings(data_dir, host=host, port=port)
    if not _is_loopback(settings.host):
        console.print(_("[red]refusing to bind {host}: this API only listens on loopback (put a reverse proxy in front of it)[/red]").format(host=settings.host))
        raise typer.Exit(2)
    password = os.environ.get(PASSWORD_ENV) or typer.prompt(_("member key password"), hide_input=True)
    try:
        identity = load(member_key, password)
    except CryptoError as exc:
        console.print(_("[red]cannot open {member_key}: {error}[/red]").format(member_key=member_key, error=exc))
        raise typer.Exit(1) from None
    console.print(_("serving the API of {address} on http://{host}:{port} (data: {data_dir})").format(address=identity.address, host=settings.host, port=settings.port, data_dir=settings.data_dir))
    # uvloop and httptools (dependencies): measured cheaper per request than asyncio and h11 under the read load.
    uvicorn.run(create_app(settings, identity), host=settings.host, port=settings.port, log_level="info", loop="uvloop", http="httptools")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="who or what uses the token, e.g. 'ward-ecg-uploader'")],
    scopes: Annotated[str, typer.Option("--scopes", help="comma-separated: read, write, relay, audit, admin")],
    data_dir: DataDir = None,
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    from api.auth.store import AuthStore, parse_scopes

    try:
        wanted = parse_scopes(scopes)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    settings = _settings(data_dir)
    store = AuthStore(settings.token_db)
    try:
        token = store.create_token(name, wanted)
    finally:
        store.close()
    console.print(_("token {name} with scopes {scopes} created; it is shown only now:").format(name=repr(name), scopes=', '.join(sorted(wanted))))
    typer.echo(token)


@token_app.command("list")
def token_list(data_dir: DataDir = None) -> None:
    """List tokens (names, scopes, ids; never secrets)."""
    from api.auth.store import AuthStore

    store = AuthStore(_settings(data_dir).token_db)
    try:
        for token in store.tokens():
            typer.echo(f"{token.id}  {token.name}  {','.join(sorted(token.scopes))}")
    finally:
        store.close()


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="the token's id, as `token list` shows it")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token at once: every request carrying it is refused from now on."""
    from api.auth.store import AuthStore

    store = AuthStore(_settings(data_dir).token_db)
    try:
        revoked = store.revoke_token(token_id)
    finally:
        store.close()
    if not revoked:
        console.print(_("[red]no token with id {token_id}; see `healthsilk api token list`[/red]").format(token_id=repr(token_id)))
        raise typer.Exit(1)
    console.print(_("token {token_id} revoked").format(token_id=token_id))
