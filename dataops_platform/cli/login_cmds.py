"""`dataops login URL` and `dataops logout URL`: keep a token for a platform server in the
credentials file (mode 0600) so that `dataops --server URL ...` and `DataOpsClient()` find it."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json
from dataops_platform.cli.state import CliState, state

UrlArg = Annotated[str, typer.Argument(metavar="URL", help="The platform's base URL, e.g. http://127.0.0.1:8000.")]


def _no_acting_user(st: CliState, command: str) -> None:
    from dataops_platform.errors import InvalidInput

    if st.user is not None:
        raise InvalidInput(f"`dataops {command}` takes no --as: the token decides who you are", field="--as", value=st.user)


def _read_token() -> str:
    from dataops_platform.client.config import ENV_TOKEN

    if os.environ.get(ENV_TOKEN):
        return os.environ[ENV_TOKEN]
    if sys.stdin.isatty():
        return typer.prompt("Token (from `dataops token create USER` on the platform's host)", hide_input=True)
    return sys.stdin.readline(4096)  # piped: one line; never an argument (it would show in `ps`)


def login(ctx: typer.Context, url: UrlArg) -> None:
    """Check a token against the server and keep it for URL (DATAOPS_TOKEN, else read from stdin).

    The token is verified first (exit 3 when the server refuses it); the credentials file
    ($DATAOPS_CREDENTIALS or ~/.config/dataops/credentials.json) is written mode 0600 and URL becomes the default
    server of the Python client. Then run commands with `dataops --server URL ...` or `export DATAOPS_SERVER=URL`."""
    from dataops_platform.client import DataOpsClient
    from dataops_platform.client.config import check_token, credentials_path, normalise_server, write_credentials

    st = state(ctx)
    _no_acting_user(st, "login")
    server = normalise_server(url, "URL")
    token = check_token(_read_token())
    with DataOpsClient(server, token) as client:
        me = client.whoami()
    path = credentials_path()
    write_credentials(path, server, token)
    if st.json:
        emit_json({"server": server, "user": me.user_id, "token_id": me.token_id, "credentials": str(path)})
    else:
        console.print(f"logged in to {server} as {me.user_id} (token {me.token_id}); saved in {path}.", highlight=False)
        console.print(f"use it with `dataops --server {server} ...` or `export DATAOPS_SERVER={server}`.", highlight=False)


def logout(ctx: typer.Context, url: UrlArg) -> None:
    """Forget the token kept for URL (the token stays valid: `dataops token revoke ID` ends it)."""
    from dataops_platform.client.config import credentials_path, forget_credentials, normalise_server

    st = state(ctx)
    _no_acting_user(st, "logout")
    server = normalise_server(url, "URL")
    path = credentials_path()
    removed = forget_credentials(path, server)
    if st.json:
        emit_json({"server": server, "removed": removed, "credentials": str(path)})
    else:
        console.print(f"{'forgot the token for' if removed else 'no token was kept for'} {server} in {path}.", highlight=False)
