"""`dataops audit list|verify`."""

from __future__ import annotations

from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json, table
from dataops_platform.cli.state import parse_time, state

app = typer.Typer(help="Read and verify the hash-chained audit log.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. version.release.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
) -> None:
    """Audit records you may read (audit.read), newest first."""
    from dataops_platform.governance.audit_service import AuditFilter, list_records

    st = state(ctx)
    flt = AuditFilter(project, actor, action, parse_time(since, "--since"), parse_time(until, "--until"), limit)
    records = list_records(st.platform(), st.actor(), flt)
    fields = ("seq", "at", "actor", "role", "tenant", "project", "action", "object_ref", "outcome", "details", "hash")
    if st.json:
        emit_json([{f: getattr(r, f) for f in fields} for r in records])
        return
    table(
        "audit log",
        ["seq", "at", "actor", "role", "project", "action", "object", "outcome"],
        [(r.seq, r.at[:19], r.actor, r.role, r.project, r.action, r.object_ref, r.outcome) for r in records],
    )


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the hash chain; exit 1 naming the first bad record if anything was tampered with."""
    from dataops_platform.governance.audit_service import verify_chain

    st = state(ctx)
    result = verify_chain(st.platform(), st.actor())
    if st.json:
        emit_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "head_seq": result.head.seq,
                "bad_seq": result.bad_seq,
                "reason": result.reason,
            }
        )
    elif result.ok:
        console.print(f"audit chain intact: {result.checked} records, head seq {result.head.seq}.")
    else:
        console.print(f"[bold red]audit chain broken[/] at seq {result.bad_seq}: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)
