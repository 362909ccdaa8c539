"""Materialise every governance asset and check in process, on the home's own Dagster instance,
so `dagster dev` / `dg dev` over the same home afterwards shows the same runs and check results.

Dagster's event stream (about 130 DEBUG lines a run, and the step failure of a blocking check) goes
to a log file per run under the Dagster home, not to the terminal; `verbose` also streams it to
stderr. A check that did not pass carries its rule's violations and findings, so the CLI can say
why without the Dagster UI.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataops_platform.settings import Settings

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
FILE_LOGGER, CONSOLE_LOGGER = "dataops_file", "console"


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    severity: str  # ERROR (integrity broken: blocking) or WARN (a governance finding)
    number: int | None = None  # the rule's number (SPEC §11)
    violations: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    # Set when the records changed between the check and the re-evaluation that gave the lists.
    note: str | None = None

    def __post_init__(self) -> None:
        if self.number is None:  # built from a check name alone (e.g. a stack run's events)
            from dataops_platform.rules import RULES

            number = next((rule.number for rule in RULES if rule.name == self.name), None)
            object.__setattr__(self, "number", number)

    @property
    def status(self) -> str:
        """passed | finding | failed, as `RuleResult.status`: only a violation breaks integrity."""
        if self.passed:
            return "passed"
        return "failed" if self.severity == "ERROR" else "finding"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.number,
            "name": self.name,
            "asset": self.asset,
            "status": self.status,
            "severity": None if self.passed else self.severity,
            "violations": self.violations,
            "findings": self.findings,
            **({"note": self.note} if self.note else {}),
        }


@dataclass(frozen=True)
class MaterializeOutcome:
    success: bool
    run_id: str
    checks: list[CheckOutcome]
    log_path: Path | None = None
    failed_steps: list[tuple[str, str]] = field(default_factory=list)  # (step, error) of steps that raised

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        """Every check that did not pass: integrity failures and findings."""
        return [c for c in self.checks if not c.passed]

    @property
    def integrity_failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def finding_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.status == "finding"]

    @property
    def integrity_ok(self) -> bool:
        """The run finished and no rule found the records inconsistent (findings do not count)."""
        return self.success and not self.integrity_failures


def dagster_instance(settings: Settings):  # noqa: ANN201 - dagster.DagsterInstance
    import dagster as dg

    settings.ensure_home()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def run_log_dir(settings: Settings) -> Path:
    return settings.dagster_home / "logs"


def _file_logger(directory: Path, handlers: list[logging.Handler]):  # noqa: ANN202 - dagster.LoggerDefinition
    """A Dagster logger writing the whole event stream (DEBUG and up) to DIRECTORY/RUN_ID.log."""
    import dagster as dg

    @dg.logger(description="The run's event stream, to a file under the Dagster home.")
    def file_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
        directory.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(directory / f"{init_context.run_id}.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handlers.append(handler)
        logger = logging.Logger("dagster", level=logging.DEBUG)  # not registered: nothing else writes to it
        logger.addHandler(handler)
        return logger

    return file_logger


def materialize_all(
    settings: Settings, selection: str | None = None, *, verbose: bool = False, full: bool = False
) -> MaterializeOutcome:
    """One in-process run of the selected assets (all by default) and their checks: the record
    artifacts refreshed from what changed since the last run, or, with `full`, rebuilt from the
    whole store (`artifacts.incremental`)."""
    import dagster as dg

    from dataops_platform.defs.assets import ASSETS
    from dataops_platform.defs.checks import CHECKS
    from dataops_platform.defs.resources import default_resources

    instance = dagster_instance(settings)
    handlers: list[logging.Handler] = []
    loggers = {FILE_LOGGER: _file_logger(run_log_dir(settings), handlers), CONSOLE_LOGGER: dg.colored_console_logger}
    run_loggers: dict[str, Any] = {FILE_LOGGER: {}}
    if verbose:  # the stream as Dagster prints it, on stderr (stdout stays the command's own output)
        run_loggers[CONSOLE_LOGGER] = {"config": {"log_level": "DEBUG"}}
    # dg.materialize without its default console logger: the same ephemeral asset job, our loggers.
    job_name = "__ephemeral_asset_job__"
    defs = dg.Definitions(
        jobs=[dg.define_asset_job(name=job_name, selection=selection)],
        assets=[*ASSETS, *CHECKS],
        resources=default_resources(settings),
        loggers=loggers,
    )
    try:
        result = defs.resolve_job_def(job_name).execute_in_process(
            run_config={"loggers": run_loggers},
            instance=instance,
            raise_on_error=False,
            tags={"dataops/trigger": "cli", **({"dataops/refresh": "full"} if full else {})},
        )
    finally:
        for handler in handlers:
            handler.close()
    evaluations = list(result.get_asset_check_evaluations())
    checks = _explain(settings, evaluations)
    log_path = run_log_dir(settings) / f"{result.run_id}.log"
    failed_steps = _failed_steps(result.get_step_failure_events())
    return MaterializeOutcome(result.success, result.run_id, sorted(checks, key=lambda c: c.name), log_path, failed_steps)


def _failed_steps(events: list[Any]) -> list[tuple[str, str]]:
    """Steps that raised, with the innermost error's first line. A blocking check failing with
    ERROR also fails its step: that one is explained by its rule, not repeated here."""
    out = []
    for event in events:
        error = event.step_failure_data.error
        if error is None or error.cls_name == "DagsterAssetCheckFailedError":
            continue
        while error.cause is not None:
            error = error.cause
        message = (error.message or error.cls_name or "").strip().splitlines()
        out.append((event.step_key, message[0] if message else "failed"))
    return out


def _count(metadata: dict[str, Any], key: str) -> int | None:
    value = metadata.get(key)
    value = getattr(value, "value", value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _explain(settings: Settings, evaluations: list[Any]) -> list[CheckOutcome]:
    """Each check as it was evaluated in the run; for one that did not pass, its rule evaluated
    again on the artifacts the run left (the same function the check calls), which gives every
    offending id, not the 200 the check's metadata holds. Should the counts differ from the
    check's (someone changed the records meanwhile), the outcome says so."""
    from dataops_platform.artifacts.files import Artifacts
    from dataops_platform.rules import RULES, evaluate

    by_name = {rule.name: rule for rule in RULES}
    failed = {e.check_name for e in evaluations if not e.passed}
    results = {}
    if failed:
        numbers = {by_name[name].number for name in failed if name in by_name}
        results = {r.name: r for r in evaluate(Artifacts(settings.artifacts_dir), numbers)}
    out = []
    for e in evaluations:
        rule = by_name.get(e.check_name)
        outcome = CheckOutcome(
            e.asset_key.to_user_string(), e.check_name, e.passed, e.severity.value, rule.number if rule else None
        )
        result = results.get(e.check_name)
        if not e.passed and result is not None:
            counted = (_count(e.metadata, "violations"), _count(e.metadata, "findings"))
            now = (len(result.violations), len(result.findings))
            note = None
            if None not in counted and counted != now:
                note = (
                    f"the check counted {counted[0]} violation(s) and {counted[1]} finding(s); the records changed "
                    f"before they were listed, which found {now[0]} and {now[1]}"
                )
            outcome = CheckOutcome(
                outcome.asset,
                outcome.name,
                False,
                outcome.severity,
                outcome.number,
                list(result.violations),
                list(result.findings),
                note,
            )
        out.append(outcome)
    return out


@dataclass(frozen=True)
class LastRun:
    """The latest finished run on the home's Dagster instance (the CLI's, the UI's or a sensor's)."""

    run_id: str
    status: str  # SUCCESS or FAILURE
    ended_at: float | None  # epoch seconds
    checks: list[CheckOutcome]
    failed_steps: list[tuple[str, str]]
    log_path: Path | None

    @property
    def integrity_failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.status == "failed"]


def last_run(settings: Settings) -> LastRun | None:
    """What the last finished materialisation did, read back from the instance's event log: each
    check's result with the counts its metadata holds (the lists are the run's, not re-evaluated)."""
    if not (settings.dagster_home / "dagster.yaml").exists():
        return None  # no instance: nothing has run here (and nothing is created by asking)
    import dagster as dg
    from dagster._core.events import DagsterEventType

    from dataops_platform.rules import RULES

    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    finished = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]), limit=1
    )
    if not finished:
        return None
    record = finished[0]
    run_id = record.dagster_run.run_id
    number = {rule.name: rule.number for rule in RULES}
    checks = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        e = entry.dagster_event.event_specific_data
        checks.append(
            CheckOutcome(
                e.asset_key.to_user_string(),
                e.check_name,
                e.passed,
                e.severity.value,
                number.get(e.check_name),
                _listed(e.metadata, "offending"),
                _listed(e.metadata, "findings_list"),
            )
        )
    failures = instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    steps = _failed_steps([entry.dagster_event for entry in failures])
    log = run_log_dir(settings) / f"{run_id}.log"
    ended = record.end_time
    return LastRun(run_id, record.dagster_run.status.value, ended, checks, steps, log if log.exists() else None)


def _listed(metadata: dict[str, Any], key: str) -> list[str]:
    """The items a check's metadata lists as Markdown `- item` lines (the first 200 of them)."""
    value = getattr(metadata.get(key), "value", None)
    return [line[2:] for line in str(value).splitlines() if line.startswith("- ")] if value else []
