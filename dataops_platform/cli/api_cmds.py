"""`dataops serve` and `dataops token create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json, emit_rows
from dataops_platform.cli.state import parse_time, state

token_app = typer.Typer(help="REST API bearer tokens (only a hash is stored).", no_args_is_help=True)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    dispatch: Annotated[
        bool, typer.Option("--dispatch", help="Also deliver notifications from the outbox in this process (every 5 s).")
    ] = False,
) -> None:
    """Serve the REST API (bearer tokens) with uvicorn."""
    import uvicorn

    from dataops_platform.api.app import create_app

    st = state(ctx)
    app = create_app(st.settings(), st.platform())
    if dispatch:
        from dataops_platform.notify.dispatch import start_dispatcher_thread

        start_dispatcher_thread(st.platform())
    console.print(f"dataops REST API on http://{host}:{port}/api/v1 (OpenAPI: /docs, /openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User the token acts as.")],
    expires: Annotated[str | None, typer.Option(help="ISO-8601 expiry (default: none).")] = None,
) -> None:
    """Create a token for USER (yourself, or anyone if you are a platform admin); printed once."""
    from dataops_platform.governance.tokens import create_token

    st = state(ctx)
    row, secret = create_token(st.platform(), st.actor(), user, parse_time(expires, "--expires"))
    if st.json:
        emit_json({"token_id": row.token_id, "user": row.user_id, "token": secret, "expires_at": row.expires_at})
    else:
        console.print(f"{row.token_id} for {row.user_id}. Store it now; it is not shown again:\n{secret}")


@token_app.command("list")
def token_list(ctx: typer.Context) -> None:
    """Your tokens (a platform admin sees all); never the secrets."""
    from dataops_platform.governance.tokens import list_tokens

    st = state(ctx)
    rows = list_tokens(st.platform(), st.actor())
    for r in rows:
        r.token_hash = "(hidden)"  # detached rows: display only
    emit_rows(st.json, "API tokens", rows, ["token_id", "user_id", "created_by", "created_at", "expires_at", "revoked_at"])


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Revoke a token at once."""
    from dataops_platform.governance.tokens import revoke_token

    st = state(ctx)
    row = revoke_token(st.platform(), st.actor(), token_id)
    console.print(f"{row.token_id} revoked at {row.revoked_at}.")
