"""`dataops notify list | dispatch | retry ID | test CHANNEL`: the outbox on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from dataops_platform.cli.output import as_data, console, emit_json, table
from dataops_platform.cli.state import state

app = typer.Typer(help="Notifications: deliveries of the outbox, the dispatcher, channel tests.", no_args_is_help=True)

COLUMNS = ["id", "event_type", "subject", "project", "channel", "status", "attempts", "last_error"]


def _show(as_json: bool, title: str, rows: list) -> None:  # noqa: ANN001 - the clients' Delivery records
    rows = [as_data(r) for r in rows]
    if as_json:
        emit_json(rows)
    else:
        table(title, COLUMNS, [[r[c] if c != "last_error" else (r[c] or "")[:80] for c in COLUMNS] for r in rows])


@app.command("list")
def notify_list(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Only this project.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="pending, sending, delivered, dead or cancelled.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 200,
) -> None:
    """Deliveries you may see (platform admins: all; ops: their projects'), with status, attempts and last error."""
    st = state(ctx)
    _show(st.json, "notification deliveries", st.client().notify_list(project, status, limit))


@app.command("dispatch")
def notify_dispatch(
    ctx: typer.Context,
    loop: Annotated[bool, typer.Option("--loop", help="Keep dispatching every --interval seconds until interrupted.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between passes with --loop.")] = 5.0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Deliveries claimed per pass.")] = 100,
) -> None:
    """Deliver what is due (as the system actor): escalations, retries with backoff, dead letters."""
    import time

    from dataops_platform.notify.dispatch import dispatch_until_idle

    st = state(ctx)
    st.local_only("notify dispatch")
    platform = st.platform()
    while True:
        report = dispatch_until_idle(platform, limit=limit)
        if st.json:
            emit_json(report.as_dict())
        elif report.claimed or report.escalated or not loop:
            console.print(
                f"claimed {report.claimed}: delivered {report.delivered}, retrying {report.retried}, dead {report.dead}, "
                f"cancelled {report.cancelled}; escalated {report.escalated}"
                + (f"; failure alerts {', '.join(report.failure_alerts)}" if report.failure_alerts else "")
            )
        if not loop:
            return
        time.sleep(interval)


@app.command("retry")
def notify_retry(ctx: typer.Context, delivery_id: Annotated[int, typer.Argument(metavar="ID", help="Delivery id.")]) -> None:
    """Make a delivery due now (platform admins, or ops of its project); audited. `notify dispatch` sends it."""
    st = state(ctx)
    _show(st.json, "retry", [st.client().notify_retry(delivery_id)])


@app.command("test")
def notify_test(ctx: typer.Context, channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="Channel id.")]) -> None:
    """Send a test event through one channel now and show the outcome (platform admins); audited."""
    st = state(ctx)
    row = as_data(st.client().notify_test(channel))
    _show(st.json, f"test of {channel}", [row])
    if row["status"] != "delivered":
        raise typer.Exit(1)
