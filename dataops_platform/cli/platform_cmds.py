"""`dataops experiment sync`, `dataops demo`, `dataops materialize`, `dataops metrics`, `dataops report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json, table
from dataops_platform.cli.state import state


def experiment_sync(ctx: typer.Context) -> None:
    """Pull finished MLflow runs into the store; safe to repeat.

    A run counts when it is in its project's own MLflow experiment and its MLflow user maps to a
    platform user holding experiment.log there; it is recorded as that user, anything else is
    ignored and audited. With --as (or DATAOPS_USER) the caller needs experiment.log in some
    project and sees only the projects they may read; without, the system actor sees everything.
    """
    from rich.markup import escape

    from dataops_platform.tracking.client import Tracking
    from dataops_platform.tracking.sync import sync_for_caller

    st = state(ctx)
    platform = st.platform()
    caller = st.user or st.settings().user
    tracking = Tracking(platform.settings.tracking_uri, platform.settings.mlflow_artifact_root)
    report = sync_for_caller(platform, tracking, caller)
    if st.json:
        emit_json(report)
        return
    hidden = report["ignored_not_shown"]
    console.print(
        f"synced {len(report['added'])} new run(s) {report['added']}, {report['already_synced']} already known, "
        f"{len(report['alerts'])} alert(s) opened, {len(report['ignored']) + hidden} ignored."
    )
    for ignored in report["ignored"]:
        console.print(f"[yellow]warning[/]: run {ignored['run_id']} ignored ({ignored['outcome']}): {escape(ignored['reason'])}")
    if hidden:
        console.print(f"{hidden} more ignored run(s) name projects you may not read.")


def _print_checks(outcome) -> None:  # noqa: ANN001
    table(
        "asset checks (Dagster)",
        ["check", "asset", "result"],
        [(c.name, c.asset, "passed" if c.passed else f"FAILED ({c.severity})") for c in outcome.checks],
    )


def materialize(ctx: typer.Context) -> None:
    """Materialise every governance asset and check on this home's Dagster instance."""
    from dataops_platform.demo.materialize import materialize_all

    st = state(ctx)
    with console.status("materialising the governance assets and checks"):
        outcome = materialize_all(st.settings())
    _print_checks(outcome)
    if not outcome.success or outcome.failed_checks:
        raise typer.Exit(1)


def metrics(ctx: typer.Context) -> None:
    """The platform metrics as last materialised (p8_metrics.json)."""
    st = state(ctx)
    path = st.settings().artifacts_dir / "reports" / "p8_metrics.json"
    if not path.exists():
        from dataops_platform.errors import InvalidInput

        raise InvalidInput(
            f"{path} does not exist yet; run `dataops materialize` (or `dataops demo`) first",
            field="home",
            value=str(path.parent),
        )
    data = json.loads(path.read_text())
    if st.json:
        emit_json(data)
    else:
        table("platform metrics", ["metric", "value"], sorted(data.items()))


# test_report and everything upstream of it. Today that is the whole graph (platform_metrics reads
# every artifact); selected by ancestry, it stays exactly what the report needs as the graph grows.
REPORT_SELECTION = "+key:test_report"
REPORT_FILES = {"report_md": "p8_report.md", "report_pdf": "p8_report.pdf", "test_report_md": "p8_test_report.md"}


def _stamp(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def report(ctx: typer.Context) -> None:
    """Materialise the platform report, the test report and what they need; print where p8_report.md and .pdf are.

    Exits 1 when the run fails or a check fails (the report may then be missing or stale)."""
    from dataops_platform.demo.materialize import materialize_all

    st = state(ctx)
    settings = st.settings()
    paths = {name: settings.artifacts_dir / "reports" / file for name, file in REPORT_FILES.items()}
    # Compared with the files' stamps afterwards: a report a failed run did not rewrite is not news.
    before = {name: _stamp(path) for name, path in paths.items()}
    with console.status("materialising the platform report and everything it reads"):
        outcome = materialize_all(settings, selection=REPORT_SELECTION)
    written = {name: _stamp(path) is not None and _stamp(path) != before[name] for name, path in paths.items()}
    passed = sum(c.passed for c in outcome.checks)
    if st.json:
        emit_json(
            {
                **{name: str(path) for name, path in paths.items()},
                "written": written,
                "success": outcome.success,
                "checks_passed": passed,
                "checks_total": len(outcome.checks),
                "failed_checks": [c.name for c in outcome.failed_checks],
                "run_id": outcome.run_id,
            }
        )
    else:
        if outcome.failed_checks or not outcome.success:
            _print_checks(outcome)
        console.print(f"checks: {passed}/{len(outcome.checks)} passed (run {outcome.run_id})", highlight=False)
        for name, path in paths.items():
            # Plain echo, not Rich: a path is copied and grepped, never wrapped or marked up.
            typer.echo(f"{path}" + ("" if written[name] else "  (not written by this run)"))
    if not outcome.success or outcome.failed_checks:
        raise typer.Exit(1)


STACK_HOME_LAYOUT = ("stack", "artifacts", "data", "inbox", "dagster", "uploads", "audit_anchor.json", "audit_anchor.lock",
                     "audit_alarms.jsonl")  # fmt: skip


def demo(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option(help="Refuse to run over an existing home instead of replacing it.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty home that the demo did not make (everything in it is lost).")
    ] = False,
    stack: Annotated[
        bool, typer.Option("--stack", help="Play on this home's running stack (`dataops stack up`); its workers materialise.")
    ] = False,
) -> None:
    """Play the reference scenario (SPEC §12) on a fresh home, then materialise every asset and check."""
    st = state(ctx)
    settings = st.settings()
    if keep and settings.home_dir.exists():
        from dataops_platform.errors import InvalidInput

        raise InvalidInput(f"{settings.home_dir} exists and --keep was given", field="home", value=str(settings.home_dir))
    if stack:
        from dataops_platform.demo.scenario import refuse_foreign_home
        from dataops_platform.stack.demo import play_on_stack
        from dataops_platform.stack.services import running_state, stack_settings

        if not force:
            # `stack up` lays out the home (stack/, artifacts/, data/, inbox/, ...); play_on_stack then
            # proves the stack's stores empty. What must not be replaced is an embedded store of its own.
            refuse_foreign_home(settings.home_dir, keep=STACK_HOME_LAYOUT)
        with console.status("playing the reference scenario on the stack") as status:
            outcome, _, steps, run_pid = play_on_stack(
                settings.home_dir, progress=lambda msg: status.update(msg) or console.print(f"  {msg}")
            )
        settings = stack_settings(settings.home_dir, running_state(settings.home_dir))
        workers = {s.pid for s in steps} - {run_pid}
        console.print(f"  {len(steps)} steps ran in {len(workers)} Celery worker process(es), none in the run process {run_pid}")
    else:
        from dataops_platform.demo.materialize import materialize_all
        from dataops_platform.demo.scenario import play_scenario

        with console.status("playing the reference scenario") as status:
            play_scenario(settings, progress=lambda msg: status.update(msg) or console.print(f"  {msg}"), force=force)
        with console.status("materialising the governance assets and checks"):
            outcome = materialize_all(settings)
    from dataops_platform.metrics import P08_TABLE

    path = settings.artifacts_dir / "reports" / "p8_metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    rows = [(k, data.get(k)) for k in P08_TABLE]
    passed = sum(c.passed for c in outcome.checks)
    rows.append(("checks passed", f"{passed}/{len(outcome.checks)}"))
    table(f"reference scenario on {settings.home_dir}", ["figure", "value"], rows)
    if outcome.failed_checks:
        _print_checks(outcome)
    if stack:
        urls = running_state(settings.home_dir).urls
        console.print(f"Dagster UI: {urls['dagster_ui']}   MLflow UI: {urls['mlflow_ui']}", highlight=False)
    else:
        console.print(
            f"Dagster UI: DAGSTER_HOME={settings.dagster_home} DATAOPS_HOME={settings.home_dir} dagster dev -w workspace.yaml"
        )
        console.print(f"MLflow UI:  mlflow ui --backend-store-uri {settings.tracking_uri}")
    if not outcome.success or outcome.failed_checks:
        raise typer.Exit(1)
