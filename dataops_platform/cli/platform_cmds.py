"""`dataops experiment sync`, `dataops demo`, `dataops materialize`, `dataops metrics`, `dataops report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json, labelled, table
from dataops_platform.cli.state import state


def experiment_sync(ctx: typer.Context) -> None:
    """Pull finished MLflow runs into the store; safe to repeat.

    A run counts when it is in its project's own MLflow experiment and its MLflow user maps to a
    platform user holding experiment.log there; it is recorded as that user, anything else is
    ignored and audited. With --as (or DATAOPS_USER) the caller needs experiment.log in some
    project and sees only the projects they may read; without, the system actor sees everything.
    """
    from dataops_platform.cli.output import as_data

    st = state(ctx)
    report = as_data(st.client().experiment_sync())
    if st.json:
        emit_json(report)
        return
    hidden = report["ignored_not_shown"]
    console.print(
        f"synced {len(report['added'])} new run(s) {report['added']}, {report['already_synced']} already known, "
        f"{len(report['alerts'])} alert(s) opened, {len(report['ignored']) + hidden} ignored."
    )
    for ignored in report["ignored"]:
        what = f": run {ignored['run_id']} ignored ({ignored['outcome']}): {ignored['reason']}"
        console.print(labelled("warning", "yellow", what))
    if hidden:
        console.print(f"{hidden} more ignored run(s) name projects you may not read.")


def materialize(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option("--full", help="Rebuild the record artifacts from the whole store, not from the changes since the last run"),
    ] = False,
) -> None:
    """Materialise every governance asset and check on this home's Dagster instance.

    Record artifacts are refreshed from what changed since the last run; --full rebuilds them from the whole store.

    Both write the same files (docs/refresh.md).

    Prints each rule that did not pass with its offending ids, violations and findings apart (--json: as data).

    Dagster's event log goes to a file whose path is printed (--verbose also streams it to stderr).

    Exit codes: 0 when every integrity rule holds (findings are printed, not fatal); 1 when integrity is broken.
    """
    from dataops_platform.cli import run_output
    from dataops_platform.demo.materialize import materialize_all

    st = state(ctx)
    st.local_only("materialize")
    st.platform()  # a store that is missing or at an older schema is named here, before Dagster starts
    with _working(st, "materialising the governance assets and checks"):
        outcome = materialize_all(st.settings(), verbose=st.verbose, full=full)
    if st.json:
        emit_json(run_output.as_data(outcome))
    else:
        run_output.checks_table(outcome)
        run_output.explain(outcome)
    raise typer.Exit(run_output.exit_code(outcome))


def _working(st, message: str):  # noqa: ANN001, ANN202
    """A spinner for people; nothing for --json or --verbose (the stream is the progress)."""
    import contextlib

    return contextlib.nullcontext() if st.json or st.verbose else console.status(message)


def metrics(ctx: typer.Context) -> None:
    """The platform metrics as last materialised (p8_metrics.json).

    When the last materialisation did not write them, says what stopped it and what to do."""
    from dataops_platform.demo.materialize import last_run

    st = state(ctx)
    if st.remote:  # the server's last materialisation (platform admins)
        data = st.client().metrics()
        emit_json(data) if st.json else table("platform metrics", ["metric", "value"], sorted(data.items()))
        return
    settings = st.settings()
    path = settings.artifacts_dir / "reports" / "p8_metrics.json"
    run = last_run(settings)
    if not path.exists():
        _no_metrics(path, run)
    data = json.loads(path.read_text())
    if run is not None and run.integrity_failures and not st.json:
        from dataops_platform.cli.output import err_console

        names = ", ".join(f"{c.number} {c.name}" for c in run.integrity_failures)
        err_console.print(
            labelled("note", "yellow", f": these metrics were computed at {data.get('generated_at', 'an unknown time')}; "
                     f"the last materialisation (run {run.run_id}) stopped on integrity rules {names} before them"),
            highlight=False,
        )  # fmt: skip
    if st.json:
        emit_json(data)
    else:
        table("platform metrics", ["metric", "value"], sorted(data.items()))


def _causes(run) -> list[str]:  # noqa: ANN001 - demo.materialize.LastRun
    out = []
    for c in run.integrity_failures:
        shown = "; ".join(c.violations[:3]) + (f" (+{len(c.violations) - 3} more)" if len(c.violations) > 3 else "")
        out.append(f"integrity rule {c.number} {c.name} on {c.asset} failed" + (f": {shown}" if shown else ""))
    return out + [f"step {step} failed: {message}" for step, message in run.failed_steps]


def _no_metrics(path: Path, run) -> None:  # noqa: ANN001 - demo.materialize.LastRun | None
    from dataops_platform.errors import DataOpsError, InvalidInput

    if run is None or (run.status == "SUCCESS" and not run.integrity_failures):
        raise InvalidInput(
            f"{path} does not exist yet; run `dataops materialize` (or `dataops demo`) first",
            field="home",
            value=str(path.parent),
        )
    when = ""
    if run.ended_at is not None:
        from datetime import UTC, datetime

        when = f", finished {datetime.fromtimestamp(run.ended_at, UTC):%Y-%m-%d %H:%M:%S} UTC"
    log = f" The run's Dagster log: {run.log_path}." if run.log_path else ""
    raise DataOpsError(
        f"{path} was not written: the last materialisation (run {run.run_id}{when}) stopped before the metrics: "
        + ("; ".join(_causes(run)) or f"it ended {run.status}")
        + ". Fix what it names (`dataops materialize` lists every offending id), then run `dataops materialize` again."
        + log,
        run_id=run.run_id,
        failed_rules=[c.name for c in run.integrity_failures],
    )


# test_report and everything upstream of it. Today that is the whole graph (platform_metrics reads
# every artifact); selected by ancestry, it stays exactly what the report needs as the graph grows.
REPORT_SELECTION = "+key:test_report"
REPORT_FILES = {"report_md": "p8_report.md", "report_pdf": "p8_report.pdf", "test_report_md": "p8_test_report.md"}


def _stamp(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def report(ctx: typer.Context) -> None:
    """Materialise the platform report, the test report and what they need; print where p8_report.md and .pdf are.

    Prints each rule that did not pass with its offending ids, as `materialize` does.

    Exit codes: 0 when every integrity rule holds (findings are printed and in the report); 1 when integrity is broken.
    """
    from dataops_platform.cli import run_output
    from dataops_platform.demo.materialize import materialize_all

    st = state(ctx)
    st.local_only("report")
    settings = st.settings()
    paths = {name: settings.artifacts_dir / "reports" / file for name, file in REPORT_FILES.items()}
    # Compared with the files' stamps afterwards: a report a failed run did not rewrite is not news.
    before = {name: _stamp(path) for name, path in paths.items()}
    with _working(st, "materialising the platform report and everything it reads"):
        outcome = materialize_all(settings, selection=REPORT_SELECTION, verbose=st.verbose)
    written = {name: _stamp(path) is not None and _stamp(path) != before[name] for name, path in paths.items()}
    if st.json:
        emit_json({**{name: str(path) for name, path in paths.items()}, "written": written, **run_output.as_data(outcome)})
    else:
        if outcome.failed_checks or not outcome.success:
            run_output.checks_table(outcome)
        run_output.explain(outcome)
        for name, path in paths.items():
            # Plain echo, not Rich: a path is copied and grepped, never wrapped or marked up.
            typer.echo(f"{path}" + ("" if written[name] else "  (not written by this run)"))
    raise typer.Exit(run_output.exit_code(outcome))


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
    """Play the reference scenario (SPEC §12) on a fresh home, then materialise every asset and check.

    Ends with the scenario's table; Dagster's event log goes to a file whose path is printed (--verbose streams it).

    Exit codes as `materialize`: 0 when every integrity rule holds, 1 when integrity is broken."""
    from dataops_platform.cli import run_output
    from dataops_platform.cli.output import err_console

    st = state(ctx)
    st.local_only("demo")
    settings = st.settings()
    if keep and settings.home_dir.exists():
        from dataops_platform.errors import InvalidInput

        raise InvalidInput(f"{settings.home_dir} exists and --keep was given", field="home", value=str(settings.home_dir))
    out = err_console if st.json else console  # with --json, stdout holds the JSON alone

    def progress(status):  # noqa: ANN001, ANN202
        return lambda msg: (status.update(msg) if status else None) or out.print(f"  {msg}", highlight=False)

    if stack:
        from dataops_platform.demo.scenario import refuse_foreign_home
        from dataops_platform.stack.demo import play_on_stack
        from dataops_platform.stack.services import running_state, stack_settings

        if not force:
            # `stack up` lays out the home (stack/, artifacts/, data/, inbox/, ...); play_on_stack then
            # proves the stack's stores empty. What must not be replaced is an embedded store of its own.
            refuse_foreign_home(settings.home_dir, keep=STACK_HOME_LAYOUT)
        with _working(st, "playing the reference scenario on the stack") as status:
            outcome, _, steps, run_pid = play_on_stack(settings.home_dir, progress=progress(status))
        settings = stack_settings(settings.home_dir, running_state(settings.home_dir))
        workers = {s.pid for s in steps} - {run_pid}
        out.print(f"  {len(steps)} steps ran in {len(workers)} Celery worker process(es), none in the run process {run_pid}")
    else:
        from dataops_platform.demo.materialize import materialize_all
        from dataops_platform.demo.scenario import play_scenario

        with _working(st, "playing the reference scenario") as status:
            play_scenario(settings, progress=progress(status), force=force)
        with _working(st, "materialising the governance assets and checks"):
            outcome = materialize_all(settings, verbose=st.verbose)
    from dataops_platform.metrics import P08_TABLE

    path = settings.artifacts_dir / "reports" / "p8_metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    rows = [(k, data.get(k)) for k in P08_TABLE]
    passed = sum(c.passed for c in outcome.checks)
    rows.append(("checks passed", f"{passed}/{len(outcome.checks)}"))
    if stack:
        urls = running_state(settings.home_dir).urls
        hints = {"dagster_ui": urls["dagster_ui"], "mlflow_ui": urls["mlflow_ui"]}
    else:
        hints = {
            "dagster_ui": f"DAGSTER_HOME={settings.dagster_home} DATAOPS_HOME={settings.home_dir} dg dev  "
            "(from the repository; `dagster dev -w workspace.yaml` also works)",
            "mlflow_ui": f"mlflow ui --backend-store-uri {settings.tracking_uri}",
        }
    if st.json:
        emit_json({"home": str(settings.home_dir), "figures": dict(rows), **hints, **run_output.as_data(outcome)})
        raise typer.Exit(run_output.exit_code(outcome))
    if outcome.failed_checks or not outcome.success:
        run_output.checks_table(outcome)
    run_output.explain(outcome)
    console.print(f"Dagster UI: {hints['dagster_ui']}", highlight=False)
    console.print(f"MLflow UI:  {hints['mlflow_ui']}", highlight=False)
    table(f"reference scenario on {settings.home_dir}", ["figure", "value"], rows)
    raise typer.Exit(run_output.exit_code(outcome))
