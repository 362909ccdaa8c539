"""`dataops audit list|verify|reanchor`."""

from __future__ import annotations

from typing import Annotated

import typer

from dataops_platform.cli.output import as_data, console, emit_json, labelled, table
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
    st = state(ctx)
    records = st.client().audit_list(project, actor, action, parse_time(since, "--since"), parse_time(until, "--until"), limit)
    fields = ("seq", "at", "actor", "role", "tenant", "project", "action", "object_ref", "outcome", "details", "hash")
    if st.json:
        emit_json([{f: getattr(r, f) for f in fields} for r in records])
        return
    table(
        "audit log",
        ["seq", "at", "actor", "role", "project", "action", "object", "outcome"],
        [(r.seq, r.at[:19], r.actor, r.role, r.project, r.action, r.object_ref, r.outcome) for r in records],
    )
    if len(records) == limit:
        console.print(f"the newest {limit} records; older ones may match too (--limit N, or --until / --since)")


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the hash chain; exit 1 naming the first bad record if anything was tampered with."""
    st = state(ctx)
    result = st.client().audit_verify()
    if st.json:
        emit_json(as_data(result))
    elif result.ok:
        console.print(f"audit chain intact: {result.checked} records, head seq {result.head_seq}.")
    elif result.bad_seq is None:  # the records hold together, but no anchor vouches for the tail
        console.print(labelled("audit chain broken", "bold red", f": {result.reason}"), highlight=False)
    else:
        console.print(labelled("audit chain broken", "bold red", f" at seq {result.bad_seq}: {result.reason}"), highlight=False)
    if not result.ok:
        if not st.json and not st.remote and result.problems:  # an anchor finding: where the anchors are, on this host
            for location in st.platform().anchor.locations:  # on the platform's host: its paths may be shown
                console.print(f"  {location.label}: {location.where}", highlight=False)
        raise typer.Exit(1)


@app.command("reanchor")
def reanchor(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why the anchor is moved (audited); required.")],
) -> None:
    """Platform admins only: set every audit anchor to the chain's current head, after investigating a
    refused write or a failed verify. Audited as `audit.reanchor`; the chain itself is not repaired."""
    from dataops_platform.governance.audit_service import reanchor as reanchor_chain

    st = state(ctx)
    st.local_only("audit reanchor")
    result = reanchor_chain(st.platform(), st.actor(), reason)
    previous = {"seq": result.previous.seq, "hash": result.previous.hash} if result.previous else None
    if st.json:
        emit_json(
            {
                "head_seq": result.head.seq,
                "head_hash": result.head.hash,
                "previous_anchor": previous,
                "problems": result.problems,
                "chain_ok": result.chain.ok,
                "chain_reason": result.chain.reason,
                "unwritten": result.unwritten,
            }
        )
    else:
        was = f"seq {result.previous.seq}" if result.previous else "none"
        console.print(f"audit anchor moved to seq {result.head.seq} (the audit.reanchor record); it witnessed {was} before.")
        for problem in result.problems:
            console.print(f"  resolved: {problem['message']}", highlight=False)
        if not result.chain.ok:
            console.print(
                labelled("the chain itself is still broken", "bold red", f" at seq {result.chain.bad_seq}: {result.chain.reason}")
            )
        for location in result.unwritten:
            console.print(labelled("not written", "bold red", f": {location}; run reanchor again once it is reachable"))
    if result.unwritten:
        raise typer.Exit(1)
