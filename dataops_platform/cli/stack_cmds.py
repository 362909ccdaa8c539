"""`dataops stack up | down | status | config | env`: the platform on shared services (SPEC §14)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json, table
from dataops_platform.cli.state import state

app = typer.Typer(help="A local production-like stack, and the config files of a deployment.", no_args_is_help=True)


@app.command("up")
def up(
    ctx: typer.Context,
    postgres: Annotated[
        str | None, typer.Option(help="Use this PostgreSQL server (admin URL) instead of starting a cluster of our own.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every service to be healthy.")] = 240.0,
) -> None:
    """Start PostgreSQL, Redis, MLflow, the Dagster daemon and webserver and two Celery workers on loopback."""
    from dataops_platform.stack.services import stack_up

    st = state(ctx)
    st.local_only("stack up")
    home = st.settings().home_dir
    with console.status("starting the stack") as status:
        result = stack_up(home, postgres, progress=lambda msg: status.update(msg) or console.print(f"  {msg}"), timeout=timeout)
    if st.json:
        emit_json({"stack_id": result.stack_id, "urls": result.urls, "env": result.env(home)})
        return
    table(f"stack {result.stack_id} for {home}", ["service", "where"], sorted(result.urls.items()))
    console.print(f'Point `dataops` at it: eval "$(dataops --home {home} stack env)"', highlight=False)


@app.command("down")
def down(
    ctx: typer.Context,
    purge: Annotated[bool, typer.Option(help="Also drop the stack's databases and delete its files.")] = False,
) -> None:
    """Stop only what `stack up` started for this home."""
    from dataops_platform.stack.services import load_state, stack_down

    st = state(ctx)
    st.local_only("stack down")
    home = st.settings().home_dir
    if load_state(home) is None:
        console.print(f"no stack for {home}; nothing to stop.")
        return
    with console.status("stopping the stack"):
        killed = stack_down(home, purge=purge)
    console.print(
        f"stack stopped{' and purged' if purge else ''}"
        + (f"; killed {len(killed)} process(es) that ignored SIGTERM" if killed else ".")
    )


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Each service's health; exits 1 when the stack is not fully up."""
    from dataops_platform.stack.services import health, load_state

    st = state(ctx)
    st.local_only("stack status")
    home = st.settings().home_dir
    current = load_state(home)
    if current is None or current.manager_pid is None:
        if st.json:
            emit_json({"running": False})
        else:
            console.print(f"no stack is running for {home}.")
        raise typer.Exit(1)
    checks = health(home, current)
    if st.json:
        emit_json({"running": True, "healthy": checks, "urls": current.urls})
    else:
        table(f"stack {current.stack_id}", ["service", "state"], [(k, "healthy" if ok else "DOWN") for k, ok in checks.items()])
    if not all(checks.values()):
        raise typer.Exit(1)


@app.command("env")
def env(ctx: typer.Context) -> None:
    """Shell `export` lines pointing `dataops` (and Dagster) at the running stack."""
    from dataops_platform.stack.services import running_state

    st = state(ctx)
    st.local_only("stack env")
    home = st.settings().home_dir
    for key, value in running_state(home).env(home).items():
        typer.echo(f"export {key}='{value}'")


@app.command("config")
def config(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory to write dagster.yaml, workspace.yaml and celery.yaml into.")],
) -> None:
    """Write a deployment's dagster.yaml, workspace.yaml and celery.yaml from the settings.

    Reads DATAOPS_DAGSTER_STORAGE_URL and DATAOPS_CELERY_BROKER_URL; with a spec applied, also sets
    the pools' limits from its task queues."""
    from dataops_platform.stack.config import sync_pool_limits, write_stack_config
    from dataops_platform.store.engine import has_schema

    st = state(ctx)
    st.local_only("stack config")
    settings = st.settings()
    files = write_stack_config(settings, out)
    limits = {}
    if (settings.dagster_home / "dagster.yaml").exists() and has_schema(settings.store_url):
        limits = sync_pool_limits(settings)
    if st.json:
        emit_json({"files": {k: str(v) for k, v in files.__dict__.items() if v}, "pool_limits": limits})
        return
    for path in files.__dict__.values():
        if path is not None:
            typer.echo(str(path))
    if limits:
        console.print(f"pool limits set on {settings.dagster_home}: {limits}")
