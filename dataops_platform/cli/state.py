"""Global CLI options (--home, --as, --json) and the lazily opened Platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import typer

from dataops_platform.errors import InvalidInput


@dataclass
class CliState:
    home: Path | None = None
    user: str | None = None
    json: bool = False
    verbose: bool = False
    server: str | None = None  # --server or DATAOPS_SERVER: every command goes through the REST client
    _platform: object | None = field(default=None, repr=False)
    _client: object | None = field(default=None, repr=False)

    @property
    def remote(self) -> bool:
        return self.server is not None

    def client(self):  # noqa: ANN201 - DataOpsClient | LocalClient: the same calls, the same typed answers
        """The platform to talk to: over REST as the token's user (--server), or in this process as --as."""
        if self._client is None:
            if self.remote:
                from dataops_platform.client import DataOpsClient

                self._client = DataOpsClient(self.server)
            else:
                from dataops_platform.cli.local import LocalClient

                self._client = LocalClient(self.platform(), self.user or self.settings().user)
        return self._client

    def close(self) -> None:
        """Close what the command opened: the REST client's connections, the store's (SQLite folds
        its write-ahead log back into the database when the last connection closes)."""
        client, platform, self._client, self._platform = self._client, self._platform, None, None
        if client is not None and hasattr(client, "close"):
            client.close()
        if platform is not None:
            platform.close()

    def local_only(self, command: str) -> None:
        """Refuse a command that only makes sense on the platform's host when the CLI is remote."""
        if self.remote:
            raise InvalidInput(
                f"`dataops {command}` runs on the platform's host (it needs the store, Dagster or MLflow there), "
                f"not through --server {self.server}; run it there, or unset --server / DATAOPS_SERVER",
                field="--server",
                value=self.server,
            )

    def settings(self):  # noqa: ANN201
        from dataops_platform.settings import load_settings

        return load_settings(self.home)

    def platform(self):  # noqa: ANN201
        """The Platform over an initialised home; a clear error when `dataops init` has not run."""
        if self.remote:  # nothing reaches a local store while the CLI is remote
            self.local_only(_command_path())
        if self._platform is None:
            from dataops_platform.governance.platform import Platform
            from dataops_platform.store.engine import Store, expected_revision, schema_revision

            settings = self.settings()
            if settings.database_url is None and not (settings.home_dir / "governance.db").exists():
                raise InvalidInput(
                    f"no platform store under {settings.home_dir}; run `dataops init --admin USER` first "
                    "(or pass --home / set DATAOPS_HOME); to use a platform server instead, pass --server URL "
                    "or set DATAOPS_SERVER",
                    field="home",
                    value=str(settings.home_dir),
                )
            store = Store(settings.store_url)
            store.check_reachable()
            revision = schema_revision(store.engine)
            if revision is None:
                raise InvalidInput(
                    "the store has no schema; run `dataops init --admin USER` first",
                    field="database_url",
                    value=settings.store_url,
                )
            if revision < expected_revision():
                raise InvalidInput(
                    f"the store's schema is at revision {revision}, this version of dataops needs {expected_revision()}: "
                    "back it up, then upgrade it with `dataops init --admin ADMIN` (an existing platform admin)",
                    field="database_url",
                    value=store.engine.url.render_as_string(hide_password=True),
                )
            self._platform = Platform(settings, store=store)
        return self._platform

    def actor(self) -> str:
        """The acting user: taken at its word in the embedded CLI (the REST API authenticates)."""
        user = self.user or self.settings().user
        if not user:
            raise InvalidInput("no acting user: pass --as USER or set DATAOPS_USER", field="--as", value=None)
        return user


def _command_path() -> str:
    import click

    ctx = click.get_current_context(silent=True)
    return ctx.command_path.partition(" ")[2] if ctx is not None and " " in ctx.command_path else "this command"


def state(ctx: typer.Context) -> CliState:
    return ctx.ensure_object(CliState)


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 option value as an aware UTC datetime (`clock.parse_instant`: an offset is
    honoured, no offset means UTC); None stays None."""
    from dataops_platform.clock import parse_instant

    return None if value is None else parse_instant(value, option)
