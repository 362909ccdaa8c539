"""What a team's run is about: the project, the dataset version and (when known) the version's
digest and source, from arguments or the environment, checked before MLflow is touched.

Plain Python, no MLflow: the run-context plugin imports this inside every process that imports
MLflow, so it must stay cheap and must never raise at import time.

The platform is not asked here: whether the project exists, the version belongs to it and the
MLflow user may log there is decided by `dataops experiment sync` (SPEC §9), which ignores and
audits a run that fails any of it. What can be told locally -- an empty or malformed id, a digest
that is no sha256, text the platform refuses -- is refused here, before a run starts.
`dataset_facts` is the one place the digest and source come from: the environment, or the
platform itself through the REST client when DATAOPS_SERVER is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dataops_platform.errors import InvalidInput
from dataops_platform.text import text_problem
from dataops_platform.tracking import client as tc

ENV_PROJECT = "DATAOPS_PROJECT"
ENV_VERSION = "DATAOPS_DATASET_VERSION"
ENV_DIGEST = "DATAOPS_DATASET_DIGEST"
ENV_SOURCE = "DATAOPS_DATASET_SOURCE"
# The platform's ids: project ids are slugs (spec.models.SLUG_PATTERN, not imported: that module
# pulls pydantic into every MLflow process), version ids the tenant-tagged `t02_legal.ds_v002`.
ID_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")  # the platform's content digest: sha256, lowercase hex
MAX_SOURCE = 2000


@dataclass(frozen=True)
class RunTarget:
    project: str
    dataset_version: str
    digest: str | None = None
    source: str | None = None

    @property
    def experiment_name(self) -> str:
        return tc.experiment_name(self.project)

    def tags(self) -> dict[str, str]:
        """The platform's run tags (SPEC §9)."""
        tags = {tc.TAG_PROJECT: self.project, tc.TAG_VERSION: self.dataset_version}
        if self.digest:
            tags[tc.TAG_DIGEST] = self.digest
        return tags


def _checked_id(value: str | None, field: str, env: str, example: str) -> str:
    if value is None or not value.strip():
        raise InvalidInput(
            f"{field} is not given: pass {field}=... or set {env} (e.g. {env}={example})", field=field, value=value
        )
    problem = text_problem(value)
    if problem is not None or not ID_PATTERN.fullmatch(value):
        why = problem or "is not a platform id (lowercase letters, digits, '_', '.', '-'; starts with a letter; 64 at most)"
        raise InvalidInput(f"{field}={value!r} {why}; use the id `dataops` shows, e.g. {example}", field=field, value=value)
    return value


def dataset_facts(dataset_version: str, environ: Mapping[str, str], *, strict: bool = True) -> tuple[str | None, str | None]:
    """(digest, source) of a version when nobody passed them: DATAOPS_DATASET_DIGEST /
    DATAOPS_DATASET_SOURCE, else -- when DATAOPS_SERVER names the platform -- asked of the platform
    through the REST client (the version's content digest and source URI, as its token may read).

    `strict` (the helper): a failed lookup raises the client's error (not found, no token, server
    down). Not strict (the run-context plugin, inside a plain `mlflow.start_run()`): the run goes on
    with the platform's tags and without the digest; the sync still judges it by its tags."""
    digest, source = environ.get(ENV_DIGEST) or None, environ.get(ENV_SOURCE) or None
    if digest is not None or source is not None or not environ.get("DATAOPS_SERVER"):
        return digest, source
    from dataops_platform.client import DataOpsClient
    from dataops_platform.errors import DataOpsError

    try:
        with DataOpsClient(environ=environ, timeout=30) as platform:
            found = platform.version_source(dataset_version)
    except DataOpsError:
        if strict:
            raise
        return None, None
    return found.content_digest, found.source_uri


def run_target(
    project: str | None = None,
    dataset_version: str | None = None,
    digest: str | None = None,
    source: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
) -> RunTarget:
    """The checked target of a run: arguments first, then DATAOPS_PROJECT / DATAOPS_DATASET_VERSION
    (and the digest and source from `dataset_facts`). InvalidInput names the field, value and fix."""
    env = os.environ if environ is None else environ
    project = _checked_id(project if project is not None else env.get(ENV_PROJECT), "project", ENV_PROJECT, "p02_legal_sft")
    version = dataset_version if dataset_version is not None else env.get(ENV_VERSION)
    version = _checked_id(version, "dataset_version", ENV_VERSION, "t02_legal.ds_v002")
    if digest is None and source is None:
        digest, source = dataset_facts(version, env, strict=strict)
    if (digest is None) != (source is None):
        missing, given = ("source", "digest") if source is None else ("digest", "source")
        raise InvalidInput(
            f"dataset {given} given without its {missing}: an MLflow dataset input needs both "
            f"(pass {missing}=... or set {ENV_SOURCE if missing == 'source' else ENV_DIGEST}), or give neither",
            field=missing,
            value=None,
        )
    if digest is not None and not DIGEST_PATTERN.fullmatch(digest):
        raise InvalidInput(
            f"digest={digest[:80]!r} is not the platform's content digest (64 lowercase hex characters, "
            f"the content_digest `dataops version show {version}` prints)",
            field="digest",
            value=digest[:80],
        )
    if source is not None:
        problem = text_problem(source) or ("is empty" if not source.strip() else None)
        problem = problem or (f"is longer than {MAX_SOURCE} characters" if len(source) > MAX_SOURCE else None)
        if problem:
            raise InvalidInput(
                f"source {problem}; give where the version's data lives (its source_uri in `dataops version show`)",
                field="source",
                value=source[:80],
            )
    return RunTarget(project, version, digest, source)
