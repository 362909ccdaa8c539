"""`dataops version register|validate|release|deprecate|list|show|diff|verify|source|download`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli.output import as_data, console, emit_json, emit_object, emit_rows, err_console, labelled
from dataops_platform.cli.state import state

app = typer.Typer(help="Dataset versions: register real data, validate, release, deprecate.", no_args_is_help=True)
LIST_COLUMNS = ["version_id", "project_id", "status", "parent_version", "row_count", "content_digest", "created_by"]


def _done(ctx: typer.Context, version, verb: str) -> None:  # noqa: ANN001 - a client's Version
    st = state(ctx)
    if st.json:
        emit_object(True, version.version_id, version)
    else:
        console.print(f"{version.version_id} ({version.project_id}) {verb}: status {version.status}", highlight=False)


@app.command("register")
def register(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project id.")],
    datafile: Annotated[
        str,
        typer.Argument(
            help="Where the data lives: a JSONL, CSV or Parquet file, a file:// URI, a directory or a glob of "
            "them (at most DATAOPS_MAX_DATASET_ROWS rows and DATAOPS_MAX_DATASET_BYTES bytes of data).",
            show_default=False,
            metavar="SOURCE",
        ),
    ],
    parent: Annotated[str | None, typer.Option(help="Parent version id.")] = None,
    summary: Annotated[list[str] | None, typer.Option(help="Change summary line (repeatable).")] = None,
    copy: Annotated[
        bool | None,
        typer.Option(
            "--copy/--no-copy", help="Keep a content-addressed copy of the original bytes (default: the project's policy; none)."
        ),
    ] = None,
) -> None:
    """Register data where it lives as a new draft version (needs version.create); nothing is copied unless --copy.

    Data the project has registered before (same digest) is registered again, with a warning naming the earlier versions.

    With --server, a local file is uploaded (and kept); s3://, iceberg:, delta: and inbox:PATH (your tenant's part
    of the server's inbox) are read by the server.

    Permission is decided before the file is opened; a file the readers cannot take (bad text,
    ragged CSV rows, non-scalar ids, nesting over 32 levels, over a size limit, not a regular
    file) exits 2 naming the file, the line or row and the field, and is audited as failed."""
    st = state(ctx)
    version = st.client().version_register(project, datafile, parent, summary, copy)
    same = version.same_content_as
    if st.json:
        emit_object(True, version.version_id, version)
        return
    _done(ctx, version, f"registered ({version.row_count} rows, digest {version.content_digest[:12]})")
    if same:
        err_console.print(
            labelled("warning", "yellow", f": {version.version_id} holds the same content (digest {version.content_digest[:12]}) "
                     f"as {', '.join(same)} of {version.project_id}; registered anyway as a new version"),
            highlight=False,
        )  # fmt: skip


@app.command("validate")
def validate(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Run the quality gate (needs version.validate): validated, or rejected naming each failed threshold.

    Exits 4 when the gate rejects the version (the rejection is recorded; each failed condition is printed)."""
    st = state(ctx)
    result = st.client().version_validate(version)
    rejected = result.status == "rejected"
    _done(ctx, result, "rejected by the quality gate" if rejected else "validated")
    if not st.json:
        for failure in result.quality_failures:
            console.print(f"  - {failure}", highlight=False)
    if rejected:
        raise typer.Exit(4)


@app.command("release")
def release(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Release through the gate (needs version.release); a refusal names every failed condition."""
    _done(ctx, state(ctx).client().version_release(version), "released")


@app.command("deprecate")
def deprecate(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Deprecate a released version that is not the current release (needs version.deprecate)."""
    _done(ctx, state(ctx).client().version_deprecate(version), "deprecated")


@app.command("list")
def list_(ctx: typer.Context, project: Annotated[str | None, typer.Option(help="Only this project.")] = None) -> None:
    """Versions you may read."""
    st = state(ctx)
    emit_rows(st.json, "dataset versions", st.client().version_list(project), LIST_COLUMNS)


@app.command("show")
def show(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Everything recorded about one version."""
    st = state(ctx)
    emit_object(st.json, version, st.client().version_show(version))


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The earlier version id.")],
    new: Annotated[str, typer.Argument(help="The later version id.")],
) -> None:
    """What changed from OLD to NEW: rows added, removed and changed by id; columns added, removed, retyped."""
    st = state(ctx)
    result = as_data(st.client().version_diff(old, new))
    if st.json:
        emit_json(result)
        return
    console.print(
        f"{old} -> {new}: rows +{result['rows_added']} -{result['rows_removed']} ~{result['rows_changed']}; "
        f"columns added {result['columns_added'] or '-'}, removed {result['columns_removed'] or '-'}, "
        f"retyped {result['columns_type_changed'] or '-'}"
    )
    for kind, ids in result["examples"].items():
        if ids:
            console.print(f"  {kind}: {', '.join(ids)}")
    for key, shifts in result["signals"].items():
        if shifts:
            console.print(f"  {key}: {shifts}")


@app.command("verify")
def verify(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Re-read the version's source and compare pin and digest; a released version that changed raises data_drift.

    Exits 4 when the data drifted or cannot be read (the facts are printed), 0 when it is intact."""
    st = state(ctx)
    result = as_data(st.client().version_verify(version))
    if st.json:
        emit_json(result)
    else:
        found = str(result.get("found_digest"))[:12]
        console.print(f"{version}: {result['status']} (digest {found}, expected {result['expected_digest'][:12]})")
        for change in result.get("pin_changes", []):
            console.print(f"  - {change}")
        if result.get("reason"):
            console.print(f"  - {result['reason']}")
        if result.get("alert_id"):
            console.print(f"  alert {result['alert_id']} (data_drift) opened")
    if result["status"] != "ok":
        raise typer.Exit(4)


@app.command("source")
def source(ctx: typer.Context, version: Annotated[str, typer.Argument(help="Version id.")]) -> None:
    """Where the version's data lives, the pin of its bytes, and whether the platform serves them (`version download`)."""
    st = state(ctx)
    emit_object(st.json, version, st.client().version_source(version))


@app.command("download")
def download(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="Version id.")],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write the bytes (replaced whole, never half).")],
) -> None:
    """Write the version's original bytes to FILE: its kept copy, or its local source file while still as pinned.

    S3, Delta and Iceberg sources are read where they live (`version source` names them); exits 2 saying so."""
    from dataops_platform.errors import InvalidInput

    st = state(ctx)
    if out.is_dir():
        raise InvalidInput(f"--out {str(out)!r} is a directory; give a file path", field="out", value=str(out))
    if not out.parent.is_dir():
        raise InvalidInput(f"--out {str(out)!r}: no directory {str(out.parent)!r}", field="out", value=str(out))
    written = st.client().version_data(version, out)
    size = written.stat().st_size
    if st.json:
        emit_json({"version_id": version, "out": str(written), "bytes": size})
    else:
        console.print(f"{version}: {size} bytes written to {written}", highlight=False)
