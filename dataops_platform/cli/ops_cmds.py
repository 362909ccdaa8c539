"""Experiments, rollback, alerts, exceptions, reviews and lineage on the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import as_data, console, emit_json, emit_object, emit_rows, table
from dataops_platform.cli.state import parse_time, state

ProjectOpt = Annotated[str | None, typer.Option("--project", help="Only this project.")]

experiment_app = typer.Typer(help="Experiment runs recorded against dataset versions.", no_args_is_help=True)
alert_app = typer.Typer(help="Alerts: open, acknowledge, resolve; SLA.", no_args_is_help=True)
exception_app = typer.Typer(help="Time-boxed exceptions to a gate rule on one version.", no_args_is_help=True)
review_app = typer.Typer(help="Incident reviews.", no_args_is_help=True)
lineage_app = typer.Typer(help="Lineage: impact analysis and export.", no_args_is_help=True)


@experiment_app.command("list")
def experiment_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """Experiments you may read."""
    st = state(ctx)
    emit_rows(
        st.json,
        "experiments",
        st.client().experiment_list(project),
        ["experiment_id", "project_id", "dataset_version", "status", "regression_kind", "metric_summary", "mlflow_run_id"],
    )


def rollback(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project id.")],
    to: Annotated[str, typer.Option("--to", help="Earlier released version to return to.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    trigger: Annotated[str | None, typer.Option("--trigger", help="experiment:ID or alert:ID that caused it.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the impact, change nothing.")] = False,
) -> None:
    """Return a project's current release to an earlier release; the impact is shown first."""
    st = state(ctx)
    client = st.client()
    plan = client.rollback_execute(project, to, reason, trigger, dry_run=True)
    if not st.json:
        table(
            f"impact: {project} {plan.from_version} -> {plan.to_version}",
            ["kind", "objects below the abandoned version"],
            [(k, ", ".join(v)) for k, v in plan.impact.items() if v] + [("releases", ", ".join(plan.releases_below))],
        )
    if dry_run:
        if st.json:
            emit_json(as_data(plan))
        return
    done = client.rollback_execute(project, to, reason, trigger)
    if st.json:
        emit_json(as_data(done))
    else:
        event = done.rollback
        console.print(f"{event.rollback_id}: {project} rolled back from {event.from_version} to {event.to_version}.")


def rollback_list(ctx: typer.Context, project: Annotated[str, typer.Argument(help="Project id.")]) -> None:
    """A project's rollbacks, oldest first (needs read there); `dataops rollback PROJECT --to V` rolls back."""
    st = state(ctx)
    emit_rows(st.json, f"rollbacks of {project}", st.client().rollback_list(project),
              ["rollback_id", "from_version", "to_version", "reason", "executed_by", "executed_at"])  # fmt: skip


@alert_app.command("list")
def alert_list(
    ctx: typer.Context,
    project: ProjectOpt = None,
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
) -> None:
    """Alerts you may read."""
    st = state(ctx)
    emit_rows(
        st.json,
        "alerts",
        st.client().alert_list(project, status),
        ["alert_id", "project_id", "severity", "category", "related_object", "status", "opened_at"],
    )


@alert_app.command("open")
def alert_open(
    ctx: typer.Context,
    related: Annotated[str, typer.Argument(help="Object the alert is about, e.g. experiment:exp_007.")],
    severity: Annotated[str, typer.Option(help="critical, high, medium or low.")],
    category: Annotated[str, typer.Option(help="regression, run_failure, quality_gate, sla_risk, freshness, operational.")],
    title: Annotated[str, typer.Option(help="One line for people.")],
) -> None:
    """Open an alert (needs alert.open)."""
    st = state(ctx)
    alert = st.client().alert_open(related, severity, category, title)
    emit_object(st.json, alert.alert_id, alert)


@alert_app.command("ack")
def alert_ack(ctx: typer.Context, alert_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Acknowledge an open alert (needs alert.ack)."""
    st = state(ctx)
    emit_object(st.json, alert_id, st.client().alert_ack(alert_id))


@alert_app.command("resolve")
def alert_resolve(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option(help="How it was resolved.")],
) -> None:
    """Resolve an alert with a note (needs alert.resolve)."""
    st = state(ctx)
    emit_object(st.json, alert_id, st.client().alert_resolve(alert_id, note))


@alert_app.command("sla")
def alert_sla(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """SLA compliance, mean time to acknowledge and recover, breaches and open risks."""
    st = state(ctx)
    report = as_data(st.client().alert_sla(project))
    if st.json:
        emit_json(report)
        return
    table(
        "SLA",
        ["measure", "value"],
        [
            (k, report[k])
            for k in (
                "alert_count",
                "resolved_count",
                "compliance_rate",
                "mean_time_to_acknowledge_minutes",
                "acknowledged_count",
                "resolved_unacknowledged_count",
                "mean_time_to_recovery_minutes",
            )
        ]
        + [("breaches", len(report["breaches"])), ("open risks", len(report["open_risks"]))],
    )


@exception_app.command("request")
def exception_request(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(metavar="V")],
    rule: Annotated[str, typer.Option(help="Gate rule to waive, e.g. experiment_status.")],
    reason: Annotated[str, typer.Option(help="Why.")],
    expires: Annotated[str, typer.Option(help="ISO-8601 expiry.")],
    follow_up: Annotated[str | None, typer.Option(help="What will be done before it expires.")] = None,
) -> None:
    """Request an exception (needs exception.request)."""
    st = state(ctx)
    exc = st.client().exception_request(version, rule, reason, parse_time(expires, "--expires"), follow_up)
    emit_object(st.json, exc.exception_id, exc)


@exception_app.command("approve")
def exception_approve(ctx: typer.Context, exception_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Approve an exception (needs exception.approve; never your own request)."""
    st = state(ctx)
    emit_object(st.json, exception_id, st.client().exception_approve(exception_id))


@exception_app.command("list")
def exception_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """Exceptions you may read, with their effective status (expired ones read as expired)."""
    st = state(ctx)
    rows = st.client().exception_list(project)
    emit_rows(
        st.json, "exceptions", rows, ["exception_id", "version_id", "rule", "status", "requested_by", "approved_by", "expires_at"]
    )


@review_app.command("add")
def review_add(
    ctx: typer.Context,
    symptom: Annotated[str, typer.Option(help="What was observed.")],
    alert: Annotated[list[str] | None, typer.Option("--alert", help="Alert id (repeatable).")] = None,
    rollback_id: Annotated[list[str] | None, typer.Option("--rollback", help="Rollback id (repeatable).")] = None,
    version: Annotated[list[str] | None, typer.Option("--version", help="Version id (repeatable).")] = None,
    impact: Annotated[str, typer.Option(help="Impact scope.")] = "",
    root_cause: Annotated[str, typer.Option(help="Root cause.")] = "",
    mitigation: Annotated[str, typer.Option(help="Mitigation.")] = "",
    fix: Annotated[list[str] | None, typer.Option(help="'description|owner|YYYY-MM-DD' (repeatable).")] = None,
) -> None:
    """Write an incident review (needs review.write)."""
    from dataops_platform.governance.reviews import FixItem

    st = state(ctx)
    related = (
        [f"alert:{a}" for a in alert or []]
        + [f"rollback:{r}" for r in rollback_id or []]
        + [f"version:{v}" for v in version or []]
    )
    items = [FixItem.parse(f) for f in fix or []]  # 'description|owner|date' refused here, naming --fix, in both modes
    fixes = [i.as_dict() for i in items]
    review = st.client().review_add(related, symptom, impact, root_cause, mitigation, fixes)
    emit_object(st.json, review.review_id, review)


@review_app.command("list")
def review_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """Incident reviews you may read."""
    st = state(ctx)
    emit_rows(
        st.json,
        "incident reviews",
        st.client().review_list(project),
        ["review_id", "project_id", "related_refs", "root_cause", "author", "created_at"],
    )


@lineage_app.command("impact")
def lineage_impact(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="KIND:ID (version:t01_retail.ds_v005) or a bare id (ds_v005, t01_retail.ds_v005)")
    ],
    depth: Annotated[int | None, typer.Option(min=1, max=100, help="Hops to follow, 1 to 100 (default: all).")] = None,
    upstream: Annotated[bool, typer.Option("--upstream", help="What REF depends on, instead of what depends on it.")] = False,
) -> None:
    """What hangs below (or above) an object, by a recursive query in the store, with each object's distance in hops.

    A bare id is taken when exactly one object you may read matches it; several are refused naming them."""
    st = state(ctx)
    rows = st.client().lineage_impact(ref, depth, upstream).items
    if st.json:
        emit_json([{"ref": r.ref, "depth": r.depth} for r in rows])
    else:
        table(f"{'upstream of' if upstream else 'impact of'} {ref}", ["object", "depth"], [(r.ref, r.depth) for r in rows])


@lineage_app.command("export")
def lineage_export(
    ctx: typer.Context,
    openlineage: Annotated[
        bool, typer.Option("--openlineage", help="OpenLineage run events as JSON Lines (one event a line) instead of the graph.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write the export to FILE, not stdout.")] = None,
    push: Annotated[
        str | None,
        typer.Option("--push", metavar="URL", help="POST each event to URL/api/v1/lineage (needs --openlineage; not to stdout)."),
    ] = None,
    project: ProjectOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the endpoint, per event.")] = 10.0,
) -> None:
    """Export the lineage of the projects you may read: the graph (nodes, typed edges) as JSON, or OpenLineage events."""
    from dataops_platform.errors import DataOpsError, InvalidInput

    st = state(ctx)
    if push is not None:
        from dataops_platform.openlineage.push import lineage_endpoint

        if not openlineage:
            raise InvalidInput(f"--push {push!r} sends OpenLineage run events: add --openlineage", field="push", value=push)
        lineage_endpoint(push)  # a bad URL is refused before the store is read
    client = st.client()
    if not openlineage:
        import json

        graph = as_data(client.lineage_export(project))
        graph.pop("format", None)
        _export_output(json.dumps(graph, indent=2, sort_keys=True) + "\n", out)
        if out is not None:
            counts = {"nodes": len(graph["nodes"]), "edges": len(graph["edges"])}
            _export_summary(st.json, {"out": str(out), "projects": graph["projects"], **counts})
        return
    from openlineage.client.serde import Serde

    export = client.lineage_export(project, openlineage=True)
    if out is not None or push is None:  # one event a line, serialised as the OpenLineage client sends it
        _export_output("".join(Serde.to_json(event) + "\n" for event in export.events), out)
    summary = {"out": str(out) if out else None, "projects": export.projects, "events": len(export.events)}
    if push is not None:
        from dataops_platform.openlineage.push import push_events

        try:
            result = push_events(export.events, push, timeout)
        except DataOpsError as exc:
            if out is None:
                raise
            raise DataOpsError(f"{exc.message} (The export itself was written to {out}.)", **exc.facts) from None
        summary |= {"pushed": result.pushed, "endpoint": result.endpoint}
    if out is not None or push is not None:
        _export_summary(st.json, summary)


def _export_output(text: str, out: Path | None) -> None:
    """To stdout, or to FILE whole or not at all (written aside, then renamed over it)."""
    if out is None:
        sys.stdout.write(text)
        return
    from dataops_platform.errors import InvalidInput

    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InvalidInput(
            f"--out {str(out)!r}: cannot write it ({exc.strerror or exc}); give a file path in an existing, writable directory",
            field="out",
            value=str(out),
        ) from None


def _export_summary(as_json: bool, summary: dict) -> None:
    if as_json:
        emit_json(summary)
        return
    if "events" in summary:
        what = f"{summary['events']} OpenLineage events"
    else:
        what = f"lineage graph ({summary['nodes']} nodes, {summary['edges']} edges)"
    where = [f"written to {summary['out']}"] if summary.get("out") else []
    if "pushed" in summary:
        where.append(f"{summary['pushed']} pushed to {summary['endpoint']}")
    console.print(f"{what} of {len(summary['projects'])} project(s): {'; '.join(where)}.", markup=False, highlight=False)
