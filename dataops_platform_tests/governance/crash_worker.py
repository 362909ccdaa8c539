"""Worker for test_crash_consistency: the version lifecycle in a tight loop until it is killed.

    python crash_worker.py HOME SCRATCH_DIR

Opens `Platform(load_settings(HOME))` on an initialised SQLite home and loops: write a fresh
data file, register it (lena, parent = the current release), record a completed experiment
(lena), validate (quinn), release (priya), and every third round roll back to the previous
release (omar). After each operation has committed it prints one line to stdout, so every
printed line is a promise the store must keep after SIGKILL:

    ready
    register ds_v007 <digest>
    experiment exp_007 ds_v007
    validate ds_v007 validated
    release ds_v007
    rollback rb_002 ds_v007 ds_v006

Anything unexpected goes to stderr with exit status 1 (the test tells that from being killed).
"""

from __future__ import annotations

import os
import sys
from itertools import count
from pathlib import Path

from sqlalchemy import select

from dataops_platform.clock import as_utc
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform.governance.versions import register_version, release_version, validate_version
from dataops_platform.settings import load_settings
from dataops_platform.store.models import DatasetVersion, Project

PROJECT = "p02_legal_sft"


def say(line: str) -> None:
    print(line, flush=True)


def rollback_target(platform: Platform) -> str | None:
    """The latest release made before the current one, if the project has one."""
    with platform.store.read() as session:
        current_id = session.get(Project, PROJECT).current_release
        if current_id is None:
            return None
        current = session.get(DatasetVersion, current_id)
        earlier = session.scalars(
            select(DatasetVersion)
            .where(
                DatasetVersion.project_id == PROJECT,
                DatasetVersion.status == "released",
                DatasetVersion.version_id != current_id,
            )
            .order_by(DatasetVersion.released_at.desc())
        ).all()
        for version in earlier:
            if as_utc(version.released_at) < as_utc(current.released_at):
                return version.version_id
    return None


def current_release(platform: Platform) -> str | None:
    with platform.store.read() as session:
        return session.get(Project, PROJECT).current_release


def main(home: Path, scratch: Path) -> None:
    platform = Platform(load_settings(home, database_url=None))
    scratch.mkdir(parents=True, exist_ok=True)
    say("ready")
    for round_no in count(1):
        # Fresh content every round, so every version brings its own content file.
        data = write_records(
            sample_records(24, seed=os.getpid() * 10_000 + round_no, id_prefix=f"w{os.getpid()}_{round_no}_"),
            scratch / f"{os.getpid()}_{round_no}.jsonl",
        )
        # --copy: the version keeps the original bytes (content-addressed), so the source file can go.
        version = register_version(platform, "lena", PROJECT, data, parent=current_release(platform), copy=True)
        say(f"register {version.version_id} {version.content_digest}")
        data.unlink()
        experiment = record_experiment(platform, "lena", PROJECT, version.version_id, "completed", metrics={"f1": 0.8})
        say(f"experiment {experiment.experiment_id} {version.version_id}")
        validated = validate_version(platform, "quinn", version.version_id)
        say(f"validate {version.version_id} {validated.status}")
        if validated.status != "validated":
            raise SystemExit(f"{version.version_id} was {validated.status}: {validated.quality_failures}")
        release_version(platform, "priya", version.version_id)
        say(f"release {version.version_id}")
        if round_no % 3 == 0 and (target := rollback_target(platform)) is not None:
            event, _plan = execute_rollback(platform, "omar", PROJECT, target, f"crash test round {round_no}")
            say(f"rollback {event.rollback_id} {event.from_version} {event.to_version}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
