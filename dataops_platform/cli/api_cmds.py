"""`dataops serve` and `dataops token create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer

from dataops_platform.cli.output import as_data, console, emit_json, emit_rows
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
    st.local_only("serve")
    _check_port_free(host, port)
    from dataops_platform.api.versions import sweep_stale_uploads

    swept = sweep_stale_uploads(st.settings())
    if swept:
        console.print(f"removed {len(swept)} upload(s) a stopped server left unfinished under uploads/", highlight=False)
    app = create_app(st.settings(), st.platform())
    if dispatch:
        from dataops_platform.notify.dispatch import start_dispatcher_thread

        start_dispatcher_thread(st.platform())
    console.print(f"dataops REST API on http://{host}:{port}/api/v1 (OpenAPI: /docs, /openapi.json)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_port_free(host: str, port: int) -> None:
    """Bind once before announcing the API: a busy port is exit 1 naming it, not uvicorn's exit 3."""
    import socket

    from dataops_platform.errors import DataOpsError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise DataOpsError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or stop what "
                           "holds it", host=host, port=port) from None  # fmt: skip


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="User the token acts as.")],
    expires: Annotated[str | None, typer.Option(help="ISO-8601 expiry (default: none).")] = None,
) -> None:
    """Create a token for USER (yourself, or anyone if you are a platform admin); printed once."""
    st = state(ctx)
    made = st.client().token_create(user, parse_time(expires, "--expires"))
    if st.json:
        data = as_data(made)
        emit_json({k: data[k] for k in ("token_id", "token", "expires_at")} | {"user": data["user_id"]})
    else:
        console.print(f"{made.token_id} for {made.user_id}. Store it now; it is not shown again:\n{made.token}")


@token_app.command("list")
def token_list(ctx: typer.Context) -> None:
    """Your tokens (a platform admin sees all); never the secrets."""
    st = state(ctx)
    rows = st.client().token_list()
    emit_rows(st.json, "API tokens", rows, ["token_id", "user_id", "created_by", "created_at", "expires_at", "revoked_at"])


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(metavar="ID", help="Token id (tok_...), from `token list`.")]
) -> None:
    """Revoke a token at once."""
    st = state(ctx)
    revoked = as_data(st.client().token_revoke(token_id))
    if st.json:
        emit_json(revoked)
    else:
        console.print(f"{revoked['token_id']} revoked at {revoked['revoked_at']}.")
