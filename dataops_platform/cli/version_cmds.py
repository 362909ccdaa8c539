"""`dataops version register|validate|release|deprecate|list|show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import console, emit_object, emit_rows
from dataops_platform.cli.state import state

app = typer.Typer(help="Dataset versions: register real data, validate, release, deprecate.", no_args_is_help=True)
LIST_COLUMNS = ["version_id", "project_id", "status", "parent_version", "row_count", "content_digest", "created_by"]


def _done(ctx: typer.Context, version, verb: str) -> None:  # noqa: ANN001
    st = state(ctx)
    if st.json:
        emit_object(True, version.version_id, version)
    else:
        console.print(f"{version.version_id} ({version.project_id}) {verb}: status {version.status}")


@app.command("register")
def register(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project id.")],
    datafile: Annotated[
        Path,
        typer.Argument(
            help="JSONL, CSV or Parquet file of records (a regular file; at most DATAOPS_MAX_DATASET_ROWS rows "
            "and DATAOPS_MAX_DATASET_BYTES bytes of data).",
            show_default=False,
        ),
    ],
    parent: Annotated[str | None, typer.Option(help="Parent version id.")] = None,
    summary: Annotated[list[str] | None, typer.Option(help="Change summary line (repeatable).")] = None,
) -> None:
    """Register a data file as a new draft version (needs version.create).

    Permission is decided before the file is opened; a file the readers cannot take (bad text,
    ragged CSV rows, non-scalar ids, nesting over 32 levels, over a size limit, not a regular
    file) exits 2 naming the file, the line or row and the field, and is audited as failed."""
    from dataops_platform.governance.versions import register_version

    st = state(ctx)
    # The path is the user's own: messages quote it as typed (register_version resolves it).
    version = register_version(st.platform(), st.actor(), project, datafile, parent, summary, label=str(datafile))
    _done(ctx, version, f"registered ({version.row_count} rows, digest {version.content_digest[:12]})")


@app.command("validate")
def validate(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Run the quality gate (needs version.validate): validated, or rejected naming each failed threshold."""
    from dataops_platform.governance.versions import validate_version

    st = state(ctx)
    result = validate_version(st.platform(), st.actor(), version)
    _done(ctx, result, "validated" if result.status == "validated" else "rejected by the quality gate")
    if not st.json:
        for failure in result.quality_failures:
            console.print(f"  - {failure}")


@app.command("release")
def release(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Release through the gate (needs version.release); a refusal names every failed condition."""
    from dataops_platform.governance.versions import release_version

    st = state(ctx)
    _done(ctx, release_version(st.platform(), st.actor(), version), "released")


@app.command("deprecate")
def deprecate(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Deprecate a released version that is not the current release (needs version.deprecate)."""
    from dataops_platform.governance.versions import deprecate_version

    st = state(ctx)
    _done(ctx, deprecate_version(st.platform(), st.actor(), version), "deprecated")


@app.command("list")
def list_(ctx: typer.Context, project: Annotated[str | None, typer.Option(help="Only this project.")] = None) -> None:
    """Versions you may read."""
    from dataops_platform.governance.versions import list_versions

    st = state(ctx)
    emit_rows(st.json, "dataset versions", list_versions(st.platform(), st.actor(), project), LIST_COLUMNS)


@app.command("show")
def show(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Everything recorded about one version."""
    from dataops_platform.governance.versions import show_version

    st = state(ctx)
    row, current = show_version(st.platform(), st.actor(), version)
    emit_object(st.json, version, row, {"is_current_release": current})
