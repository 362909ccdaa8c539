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
    _platform: object | None = field(default=None, repr=False)

    def settings(self):  # noqa: ANN201
        from dataops_platform.settings import load_settings

        return load_settings(self.home)

    def platform(self):  # noqa: ANN201
        """The Platform over an initialised home; a clear error when `dataops init` has not run."""
        if self._platform is None:
            from dataops_platform.governance.platform import Platform
            from dataops_platform.store.engine import Store, expected_revision, schema_revision

            settings = self.settings()
            if settings.database_url is None and not (settings.home_dir / "governance.db").exists():
                raise InvalidInput(
                    f"no platform store under {settings.home_dir}; run `dataops init --admin USER` first "
                    "(or pass --home / set DATAOPS_HOME)",
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


def state(ctx: typer.Context) -> CliState:
    return ctx.ensure_object(CliState)


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 option value as an aware UTC datetime (`clock.parse_instant`: an offset is
    honoured, no offset means UTC); None stays None."""
    from dataops_platform.clock import parse_instant

    return None if value is None else parse_instant(value, option)
