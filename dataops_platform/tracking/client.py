"""A thin, explicit wrapper over MlflowClient: one MLflow experiment per project, tracked runs.

The tracking URI is always passed explicitly (MLflow 3 would otherwise default to ./mlflow.db).
MLflow is imported lazily: the CLI's store answers must not pay for it.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TAG_PROJECT = "dataops.project"
TAG_VERSION = "dataops.dataset_version"
TAG_STATUS = "dataops.status"
TAG_REGRESSION_KIND = "dataops.regression_kind"  # data | model_candidate, on a regressed run
TAG_BASELINE = "dataops.baseline"
TAG_BASELINE_REF = "dataops.baseline_experiment"
TAG_EXPERIMENT = "dataops.experiment_id"
TAG_ERROR = "dataops.error"
TAG_DIGEST = "dataops.dataset_digest"
TAG_MLFLOW_USER = "mlflow.user"  # MLflow's own tag for who logged the run (mlflow.utils.mlflow_tags.MLFLOW_USER)
MLFLOW_UNKNOWN_USER = "unknown"  # what MlflowClient.create_run stores as user_id when no mlflow.user tag is given
MLFLOW_DIGEST_CHARS = 32
EXPERIMENT_PREFIX = "dataops/"
# MLflow 3's experiment kind: the value its UI's kind selector writes for the training-runs view. The
# 3.17 UI reads it only when its global "GenAI | Model training" switch is off; with the switch (the
# default build) the browser's choice (localStorage `mlflow.workflowType`, default genai) or the URL's
# `workflowType=machine_learning` decides, so links into MLflow carry that parameter (docs/mlflow.md).
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
# The runs table's columns are chosen in the browser (MLflow's defaults are hard-coded in its UI: Source,
# Models, Dataset) and kept in its local storage; the only server-side view is a saved view, an
# experiment tag `mlflow.sharedViewState.<key>` listed in the runs page's Views menu and opened by
# `#/experiments/<id>/runs?workflowType=machine_learning&viewStateShareKey=<key>` (read from MLflow
# 3.17's UI bundle, checked in Chromium against `mlflow server`).
VIEW_KEY = "dataops"
TAG_VIEW = f"mlflow.sharedViewState.{VIEW_KEY}"
VIEW_NAME = "DataOps: verdict and primary metric"
RUN_ID_BATCH = 100  # run ids per `run_id IN (...)` search
NO_SUCH_RUN = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")  # MLflow's error codes for a missing run id
# The only run ids spliced into a filter string: what MLflow's stores mint (uuid4().hex). Anything else
# a caller holds is user data and is asked about with get_run (see `Tracking.runs_facts`).
MINTED_RUN_ID = re.compile(r"[0-9a-f]{32}")
# Run ids per `attributes.run_id IN (...)` of `runs_facts`. MLflow parses a filter with sqlparse, which
# refuses a statement of more than 10,000 tokens (sqlparse 0.5+ MAX_GROUPING_TOKENS; each quoted id
# is 3: string, comma, space), so about 3,300 ids is the ceiling ("Error on parsing filter"); 1,000 is
# a 36 kB request and 1,000 bound parameters on a SQL store.
FACTS_BATCH = 1000
RUN_PAGE = 1000  # max_results of a facts search (one page per batch); MLflow allows up to 50,000
DELETED_PAGE = 10000  # max_results of a deleted-runs search: whole runs (params, tags, metrics) per page
EXPERIMENT_PAGE = 1000  # max_results of search_experiments (MLflow's default)
EXPERIMENT_BATCH = 500  # experiment ids per search_runs: bound parameters on a SQL store, next to the run ids


def experiment_name(project_id: str) -> str:
    return f"{EXPERIMENT_PREFIX}{project_id}"


def runs_view_state(primary_metric: str | None) -> dict[str, Any]:
    """The runs-table state of the platform's saved view: the dataset, who logged it, the verdict,
    the version and the primary metric (when the project's regression rule names one)."""
    columns = ["attributes.`Dataset`", "attributes.`User`", f"tags.`{TAG_STATUS}`", f"tags.`{TAG_VERSION}`"]
    if primary_metric:
        columns.insert(2, f"metrics.`{primary_metric}`")
    return {"selectedColumns": columns}


def experiment_tags(project_id: str, primary_metric: str | None = None) -> dict[str, str]:
    """The tags the platform keeps on a project's MLflow experiment (SPEC §9: opens on the training view)."""
    state = json.dumps(runs_view_state(primary_metric), separators=(",", ":"))
    now_ms = int(time.time() * 1000)
    envelope = {"name": VIEW_NAME, "createdAt": now_ms, "updatedAt": now_ms, "state": state}
    return {TAG_PROJECT: project_id, TAG_EXPERIMENT_KIND: TRAINING_KIND, TAG_VIEW: json.dumps(envelope, separators=(",", ":"))}


def _same_view(stored: str | None, wanted: str) -> bool:
    """A saved view's state is what counts: its timestamps are not compared."""
    try:
        return json.loads(stored)["state"] == json.loads(wanted)["state"] if stored else False
    except (ValueError, KeyError, TypeError):
        return False


def mlflow_dataset(version_id: str, digest: str, location: str) -> Any:
    """A dataset version as an MLflow dataset (mlflow.data.meta_dataset.MetaDataset): named by the
    version id, its source where the data lives, its digest the platform's. MLflow caps dataset
    digests at 36 characters: the first 32 are kept here, the full sha256 is the run's
    `dataops.dataset_digest` tag."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # a file:// URI matches two equivalent local source types
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(location)
    return MetaDataset(source, name=version_id, digest=digest[:MLFLOW_DIGEST_CHARS])


def tracking_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call raises when the store or server fails (imported lazily, like MLflow)."""
    import requests
    from mlflow.exceptions import MlflowException

    return (MlflowException, requests.exceptions.RequestException, ConnectionError)


@dataclass
class TrackedRun:
    """What the body of `Tracking.run` may log; collected and written when the body finishes."""

    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self.metrics.update({k: float(v) for k, v in metrics.items()})


def shown_uri(uri: str) -> str:
    """`uri` with the password of its user part, if any, replaced by ***."""
    parts = urlsplit(uri)
    try:
        password = parts.password
    except ValueError:  # not a URL urlsplit can take apart (a bad port...): show nothing of its user part
        password = "?" if "@" in parts.netloc else None
    if not password or "@" not in parts.netloc:
        return uri
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


@dataclass(frozen=True)
class VersionRef:
    """The facts about a dataset version a run records as its MLflow dataset input."""

    version_id: str
    digest: str
    location: str
    rows: int


class Tracking:
    def __init__(self, tracking_uri: str, artifact_root: Path | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self._client = None

    @property
    def shown_uri(self) -> str:
        """The tracking URI for a message: a password in it (postgresql://user:secret@...) hidden."""
        return shown_uri(self.tracking_uri)

    @property
    def client(self):  # noqa: ANN201 - mlflow.MlflowClient, imported lazily
        if self._client is None:
            from mlflow import MlflowClient

            if self.tracking_uri.startswith(("http://", "https://")):
                # MLflow's defaults retry a dead server for minutes; a command should answer sooner.
                os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
                os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def dataops_experiments(self) -> dict[str, str]:
        """The active MLflow experiments named `dataops/...`: experiment id -> name."""
        found = self.client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'")
        return {e.experiment_id: e.name for e in found}

    def project_experiment_id(self, project_id: str, primary_metric: str | None = None) -> str | None:
        """The id of the project's own MLflow experiment (`dataops/<project>`), None when it has none yet.

        Never creates the experiment (unlike `experiment_id`); an existing active one gets the
        platform's experiment tags (training view, saved runs view) when they are missing or stale."""
        existing = self.client.get_experiment_by_name(experiment_name(project_id))
        if existing is None or existing.lifecycle_stage != "active":
            return None
        self._keep_tags(existing, project_id, primary_metric)
        return existing.experiment_id

    def experiment_id(self, project_id: str, primary_metric: str | None = None) -> str:
        """The project's MLflow experiment (`dataops/<project>`), created on first use with the
        platform's experiment tags (kept up to date on an existing one)."""
        from mlflow.exceptions import MlflowException

        name = experiment_name(project_id)
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            self._keep_tags(existing, project_id, primary_metric)
            return existing.experiment_id
        location = (self.artifact_root / project_id).as_uri() if self.artifact_root else None
        try:
            tags = experiment_tags(project_id, primary_metric)
            return self.client.create_experiment(name, artifact_location=location, tags=tags)
        except MlflowException as exc:  # another process (a team's training job, the sensor) created it first
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" or (again := self.client.get_experiment_by_name(name)) is None:
                raise
            self._keep_tags(again, project_id, primary_metric)
            return again.experiment_id

    def _keep_tags(self, experiment: Any, project_id: str, primary_metric: str | None) -> None:
        """Write the platform's experiment tags that are missing or differ; a saved view that already
        names a primary metric keeps it when the caller does not know the metric."""
        wanted = experiment_tags(project_id, primary_metric)
        stored = experiment.tags or {}
        if primary_metric is None and stored.get(TAG_VIEW):
            wanted.pop(TAG_VIEW)
        for key, value in wanted.items():
            same = _same_view(stored.get(key), value) if key == TAG_VIEW else stored.get(key) == value
            if not same:
                self.client.set_experiment_tag(experiment.experiment_id, key, value)

    @contextmanager
    def run(
        self,
        project_id: str,
        version: VersionRef,
        params: dict[str, Any],
        run_name: str,
        *,
        user: str | None = None,
    ) -> Iterator[TrackedRun]:
        """A tracked run on a dataset version. An exception inside marks the run FAILED and re-raises.

        `user` is the MLflow user of the run (its `mlflow.user` tag): the sync records a run only as
        the platform user it maps to (SPEC §9), so a run logged without one is never counted."""
        from mlflow.entities import DatasetInput, InputTag, Metric, Param

        client = self.client
        run = client.create_run(
            self.experiment_id(project_id),
            run_name=run_name,
            tags={
                TAG_PROJECT: project_id,
                TAG_VERSION: version.version_id,
                TAG_DIGEST: version.digest,
                **({TAG_MLFLOW_USER: user} if user else {}),
            },
        )
        run_id = run.info.run_id
        dataset = mlflow_dataset(version.version_id, version.digest, version.location)
        client.log_inputs(
            run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "training")])]
        )
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in sorted(params.items())])
        handle = TrackedRun(run_id)
        try:
            yield handle
        except BaseException as exc:
            client.set_tag(run_id, TAG_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            client.set_terminated(run_id, status="FAILED")
            raise
        now_ms = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, now_ms, 0) for k, v in sorted(handle.metrics.items())])
        client.set_terminated(run_id, status="FINISHED")

    def finished_runs(self, since_ms: int | None) -> list[Any]:
        """Finished or failed runs of every dataops experiment, oldest end first, ended at or after `since_ms`."""
        clauses = ["attributes.status != 'RUNNING'"]
        if since_ms is not None:
            clauses.append(f"attributes.end_time >= {int(since_ms)}")
        return self._search(list(self.dataops_experiments()), " and ".join(clauses))

    def finished_runs_by_id(self, run_ids: list[str]) -> list[Any]:
        """The finished or failed runs among `run_ids` that are still in a dataops experiment (a run
        deleted in MLflow, or whose experiment was deleted or renamed away, is absent), oldest end first."""
        experiments = list(self.dataops_experiments())
        wanted = sorted({r for r in run_ids if r.isalnum()})  # MLflow run ids are hex: nothing to quote
        runs: list[Any] = []
        for start in range(0, len(wanted), RUN_ID_BATCH):
            quoted = ", ".join(f"'{r}'" for r in wanted[start : start + RUN_ID_BATCH])
            runs += self._search(experiments, f"attributes.run_id IN ({quoted}) and attributes.status != 'RUNNING'")
        return sorted(runs, key=lambda r: (r.info.end_time or r.info.start_time or 0, r.info.run_id))

    def _search(self, experiments: list[str], filter_string: str) -> list[Any]:
        if not experiments:
            return []
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                experiments,
                filter_string=filter_string,
                order_by=["attributes.end_time ASC"],
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in sorted(tags.items())])

    def run_exists(self, run_id: str) -> dict[str, Any] | None:
        """A run's identity, status and lifecycle stage (`deleted` in the MLflow UI, not yet
        garbage-collected, is still a run), or None when MLflow has no such run.

        Only MLflow's "no such run" answer is None: any other failure (the server down, a 5xx)
        raises, so an MLflow outage fails the asset instead of reading as runs that vanished."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code in NO_SUCH_RUN:
                return None
            raise
        return _facts(run_id, run.info)

    def runs_facts(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """`run_exists` of many runs in a few calls: {run id: what `run_exists` answers for it}.

        Ids MLflow mints (32 lowercase hex) are searched for 1,000 at a time over every experiment,
        active and deleted, runs active and deleted. Any other id is user data: it never enters a
        filter string and gets `run_exists`'s own answer (MLflow's client refuses a malformed id
        without a request; a well-formed foreign one costs a get_run). An id the search did not
        find is asked once more with get_run, so None is always MLflow's own "no such run": a run
        a search does not show (a tracking server's permissions hide its experiment) raises there
        as it does in `run_exists`. Calls: experiment pages + id batches x experiment batches +
        one per id not found. Failures raise, as in `run_exists`.

        Raises: MlflowException / requests errors when MLflow fails; TypeError for a non-string id."""
        from mlflow.entities import ViewType

        wanted = list(dict.fromkeys(run_ids))
        for run_id in wanted:
            if not isinstance(run_id, str):
                raise TypeError(f"run ids must be strings, got {type(run_id).__name__} {run_id!r:.80}")
        minted = [r for r in wanted if MINTED_RUN_ID.fullmatch(r)]
        found: dict[str, dict[str, Any]] = {}
        experiments = self._all_experiment_ids() if minted else []
        for start in range(0, len(minted), FACTS_BATCH):
            chunk = minted[start : start + FACTS_BATCH]
            listed = ", ".join(f"'{r}'" for r in chunk)  # minted ids only: hex needs no quoting
            for run in self._search_all(experiments, f"attributes.run_id IN ({listed})", ViewType.ALL, RUN_PAGE):
                found[run.info.run_id] = _facts(run.info.run_id, run.info)
        return {r: found[r] if r in found else self.run_exists(r) for r in wanted}

    def deleted_runs(self) -> dict[str, dict[str, Any]]:
        """The facts (as `run_exists` gives them) of every run MLflow holds as deleted and has not
        garbage-collected yet, in every experiment, active or deleted. Paged by offset: a run
        deleted or restored while the pages are read may be missed or seen in its old state until
        the next call. Raises as `run_exists` does when MLflow fails."""
        from mlflow.entities import ViewType

        runs = self._search_all(self._all_experiment_ids(), "", ViewType.DELETED_ONLY, DELETED_PAGE)
        return {run.info.run_id: _facts(run.info.run_id, run.info) for run in runs}

    def runs_ended_since(self, epoch_ms: int) -> dict[str, dict[str, Any]]:
        """The facts of every run (active or deleted) whose end time is at or after `epoch_ms`: the
        runs terminated since then, a finished run re-terminated (KILLED) included. The end time is
        the terminating client's clock. Raises as `run_exists` does when MLflow fails."""
        from mlflow.entities import ViewType

        if type(epoch_ms) is not int or epoch_ms < 0:
            raise ValueError(f"epoch_ms must be a non-negative int, got {epoch_ms!r}")
        runs = self._search_all(self._all_experiment_ids(), f"attributes.end_time >= {epoch_ms}", ViewType.ALL, DELETED_PAGE)
        return {run.info.run_id: _facts(run.info.run_id, run.info) for run in runs}

    def _all_experiment_ids(self) -> list[str]:
        """Every experiment MLflow holds, active and deleted (a deleted one's runs are still runs)."""
        from mlflow.entities import ViewType

        ids, token = [], None
        while True:
            page = self.client.search_experiments(view_type=ViewType.ALL, max_results=EXPERIMENT_PAGE, page_token=token)
            ids += [e.experiment_id for e in page]
            token = page.token
            if not token:
                return ids

    def _search_all(self, experiments: list[str], filter_string: str, view_type: int, page_size: int) -> Iterator[Any]:
        """Every run matching `filter_string` in `experiments`, page after page."""
        for start in range(0, len(experiments), EXPERIMENT_BATCH):
            chunk, token = experiments[start : start + EXPERIMENT_BATCH], None
            while True:
                page = self.client.search_runs(
                    chunk, filter_string=filter_string, run_view_type=view_type, max_results=page_size, page_token=token
                )
                yield from page
                token = page.token
                if not token:
                    break


def _facts(run_id: str, info: Any) -> dict[str, Any]:
    """What the experiment_runs artifact records of a run (rule 7)."""
    return {
        "run_id": run_id,
        "status": info.status,
        "experiment_id": info.experiment_id,
        "lifecycle_stage": info.lifecycle_stage,
    }
