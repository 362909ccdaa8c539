"""Entry point of the `dataops` command line (SPEC §13)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dataops_platform.cli import (
    api_cmds,
    audit_cmds,
    login_cmds,
    notify_cmds,
    ops_cmds,
    platform_cmds,
    spec_cmds,
    stack_cmds,
    version_cmds,
)
from dataops_platform.cli.output import console, emit_json, error
from dataops_platform.cli.state import CliState, state
from dataops_platform.errors import InvalidInput

app = typer.Typer(
    name="dataops",
    help="Governance plane for data and ML teams: versions, experiments, lineage, releases, audit.\n\n"
    "Global options (--home, --as, --server, --json, --verbose) go before or after the command.\n\n"
    "On the platform's host the CLI acts on the local store as --as; everyone else uses it with --server URL "
    "(or DATAOPS_SERVER) and a token (DATAOPS_TOKEN, or `dataops login URL`): every command then goes through "
    "the REST API as the token's user, with the same output and exit codes.\n\n"
    "Exit codes: 0 success; 2 invalid input; 3 permission denied; 4 refused by a gate or an illegal transition "
    "(a quality-gate rejection included); 1 anything else. materialize, report and demo: 0 when every integrity "
    "rule holds (governance findings are printed, not fatal), 1 when integrity is broken or the run failed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(spec_cmds.app, name="spec")
app.add_typer(version_cmds.app, name="version")
app.add_typer(ops_cmds.experiment_app, name="experiment")
app.command("rollback")(ops_cmds.rollback)
app.command("rollbacks")(ops_cmds.rollback_list)
app.add_typer(ops_cmds.alert_app, name="alert")
app.add_typer(ops_cmds.exception_app, name="exception")
app.add_typer(ops_cmds.review_app, name="review")
app.add_typer(ops_cmds.lineage_app, name="lineage")
app.add_typer(audit_cmds.app, name="audit")
ops_cmds.experiment_app.command("sync")(platform_cmds.experiment_sync)
app.command("materialize")(platform_cmds.materialize)
app.command("metrics")(platform_cmds.metrics)
app.command("report")(platform_cmds.report)
app.command("demo")(platform_cmds.demo)
app.command("serve")(api_cmds.serve)
app.add_typer(api_cmds.token_app, name="token")
app.command("login")(login_cmds.login)
app.command("logout")(login_cmds.logout)
app.add_typer(stack_cmds.app, name="stack")
app.add_typer(notify_cmds.app, name="notify")


@app.callback()
def global_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", help="Platform home (default $DATAOPS_HOME or ./.dataops).")] = None,
    user: Annotated[str | None, typer.Option("--as", help="Acting user (default $DATAOPS_USER).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Stream Dagster's event log to stderr (it always goes to a log file too).")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option("--server", metavar="URL", help="Run the command through this platform's REST API ($DATAOPS_SERVER)."),
    ] = None,
) -> None:
    """Global options, taken before or after the command (cli/argv.py moves them in front)."""
    import os

    from dataops_platform.client.config import ENV_SERVER, normalise_server

    server = server if server is not None else (os.environ.get(ENV_SERVER) or None)
    if server is not None:
        server = normalise_server(server, "--server")
        if user is not None:
            raise InvalidInput(
                f"--as {user!r} is refused with --server: the server acts as the user your token belongs to "
                "(DATAOPS_TOKEN or `dataops login`); drop --as, or use that user's token",
                field="--as",
                value=user,
            )
        if home is not None:
            raise InvalidInput(
                f"--home {str(home)!r} names a local platform home; with --server the server's home is used: drop one",
                field="--home",
                value=str(home),
            )
    ctx.obj = CliState(home=home, user=user, json=as_json, verbose=verbose, server=server)
    ctx.call_on_close(ctx.obj.close)  # the store and the HTTP client closed when the command ends, not whenever GC runs


@app.command()
def init(
    ctx: typer.Context,
    admin: Annotated[str, typer.Option("--admin", help="User id of the first platform admin.")],
) -> None:
    """Create or upgrade the store and its first admin."""
    from dataops_platform.governance.bootstrap import initialize
    from dataops_platform.governance.platform import Platform

    st = state(ctx)
    st.local_only("init")
    settings = st.settings()
    settings.ensure_home()
    result = initialize(Platform(settings), admin)
    if st.json:
        emit_json(
            {
                "home": str(settings.home_dir),
                "admin": result.admin,
                "created": result.created,
                "schema_revision": result.schema_revision,
            }
        )
        return
    verb = "initialised" if result.created else "already initialised; schema upgraded to head"
    console.print(f"Platform home {settings.home_dir} {verb} (schema {result.schema_revision}, admin {result.admin}).")


def interface_tables():  # noqa: ANN201 - dataops_platform.artifacts.interfaces.InterfaceTables
    """Every command of this CLI ('group command' -> implementing function) for the API catalog
    (entry point `dataops_platform.interface_tables`: the artifacts never import the CLI)."""
    from dataops_platform.artifacts.interfaces import InterfaceTables

    found: dict[str, str] = {}

    def walk(command: typer.core.TyperGroup | typer.core.TyperCommand, path: list[str]) -> None:
        if hasattr(command, "commands"):  # a group (Typer vendors its own click classes)
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            callback = command.callback
            found[" ".join(path)] = f"{callback.__module__}:{callback.__name__}" if callback else "?"

    walk(typer.main.get_command(app), [])
    return InterfaceTables(commands=dict(sorted(found.items())))


def check_arguments(argv: list[str]) -> None:
    """Every argument is text under the platform's one rule (dataops_platform.text): invalid UTF-8
    (which Python decodes to lone surrogates) or NUL is refused naming the option, before any
    command runs, so no such value can be stored or reach a codec deep inside."""
    from dataops_platform.text import check_text

    for i, arg in enumerate(argv):
        option = argv[i - 1] if i and argv[i - 1].startswith("--") and "=" not in argv[i - 1] else None
        name = arg.split("=", 1)[0] if arg.startswith("--") and "=" in arg else option or f"argument {i + 1}"
        check_text(arg, name)


def main() -> None:
    """Run the CLI, mapping typed errors to SPEC §13 exit codes: 2 input, 3 permission, 4 refused, 1 other."""
    as_json = "--json" in sys.argv[1:]
    # A value stored before the text rule (a lone surrogate) must not crash a listing on output.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        check_arguments(sys.argv[1:])
        from dataops_platform.cli.argv import hoist_global_options

        argv = hoist_global_options(typer.main.get_command(app), sys.argv[1:])
        # Without standalone mode Typer returns a command's exit code instead of raising it.
        code = app(args=argv, standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        # A remote write already sent may still complete on the server; a local one is whole or absent.
        sys.stderr.write("interrupted; a change the platform had already received may have been made: check before retrying\n")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence turns errors into exit codes
        import click

        # Typer 0.29 vendors its own click: its usage errors are not click.ClickException.
        if isinstance(exc, (click.exceptions.Abort, typer.Abort)):
            sys.exit(1)
        if isinstance(exc, (click.ClickException, typer.TyperException)):
            exc.show()
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(error(exc, as_json))


if __name__ == "__main__":
    main()
