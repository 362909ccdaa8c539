"""`dataops spec validate|apply FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_json, labelled, plural, table
from dataops_platform.cli.state import state

app = typer.Typer(help="Validate and apply the declarative platform spec.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="Platform spec YAML file.")]


@app.command("validate")
def validate(ctx: typer.Context, file: FileArg) -> None:
    """Check a spec file without touching the store."""
    from dataops_platform.spec.effective import summary as effective_summary
    from dataops_platform.spec.loader import load_spec

    summary = {"file": str(file), "valid": True} | effective_summary(load_spec(file))
    if state(ctx).json:
        emit_json(summary)
    else:
        counts = ", ".join(plural(v, k[:-1], k) for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool))
        console.print(f"{file}: valid for {summary['organisation']} ({counts})")
        overridden = ", ".join(summary["overrides"]) or "nothing"
        console.print(f"  from the platform's code: {', '.join(summary['from_code'])} (overridden: {overridden})")
        console.print(f"  from defaults: {', '.join(summary['defaults']) or 'nothing'}")


@app.command("apply")
def apply(ctx: typer.Context, file: FileArg) -> None:
    """Apply a spec (needs spec.apply): idempotent, one transaction, audited."""
    from dataops_platform.governance.spec_apply import apply_spec
    from dataops_platform.spec.loader import load_spec

    st = state(ctx)
    spec = load_spec(file)  # checked here first in both modes: problems name this file's lines
    if st.remote:
        answer = st.client().spec_apply(file.read_text(encoding="utf-8"))
        report, pools = answer.model_dump(exclude={"noop"}), {}  # the server's pool limits are its own
    else:
        report, pools = apply_spec(st.platform(), st.actor(), spec, str(file)).as_dict(), _sync_pools(st.settings())
    noop = not report["created"] and not report["changed"]
    if st.json:
        emit_json(report | {"noop": noop, "pool_limits": pools})
        return
    if report["kept"]:
        console.print(
            f"kept, not in {file}: {', '.join(report['kept'])} (apply never deletes what has history; "
            "remove a project's members to close it to everyone)"
        )
    if noop:
        console.print(f"{file}: nothing to change ({len(report['unchanged'])} objects already as declared).")
        return
    rows = [("created", ref) for ref in report["created"]] + [("changed", ref) for ref in report["changed"]]
    table(f"spec apply {file}", ["change", "object"], rows)
    console.print(
        f"{len(report['created'])} created, {len(report['changed'])} changed, {len(report['unchanged'])} left as they were."
    )
    if pools:
        console.print(f"pool limits on the deployment's Dagster instance: {pools}")


def _sync_pools(settings) -> dict[str, int]:  # noqa: ANN001
    """On a deployment, the task queues' limits become the pools' limits the daemon enforces."""
    if settings.dagster_storage_url is None:
        return {}  # embedded: in-process runs, one step at a time
    if not (settings.dagster_home / "dagster.yaml").exists():
        console.print(
            labelled(
                "note",
                "yellow",
                f": no Dagster instance at {settings.dagster_home} (set DATAOPS_DAGSTER_INSTANCE_DIR); "
                "pool limits not updated: run `dataops stack config --out DIR` there",
            )
        )
        return {}
    from dataops_platform.stack.config import sync_pool_limits

    return sync_pool_limits(settings)
