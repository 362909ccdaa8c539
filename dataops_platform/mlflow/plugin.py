"""MLflow plugins (entry points in pyproject.toml) that make a plain `mlflow.start_run()` a
platform run when DATAOPS_PROJECT and DATAOPS_DATASET_VERSION are set (SPEC §9).

MLflow offers two hooks for this, and both are needed:

- `mlflow.default_experiment_provider` (`DataOpsExperimentProvider`): the experiment a fluent
  run lands in when the code names none. MLflow asks it only after `mlflow.set_experiment(...)`,
  `start_run(experiment_id=...)` and MLFLOW_EXPERIMENT_NAME / MLFLOW_EXPERIMENT_ID: an explicit
  choice of the team's wins, and a run outside `dataops/<project>` is then ignored by the sync.
  It creates `dataops/<project>` with the platform's experiment tags when it is missing (what
  MLFLOW_EXPERIMENT_NAME=dataops/<project> would do without the tags).
- `mlflow.run_context_provider` (`DataOpsRunContext`): the run's tags `dataops.project`,
  `dataops.dataset_version` (and `dataops.dataset_digest` when DATAOPS_DATASET_DIGEST is set).
  A context provider can only add tags: the dataset input needs `dataops_platform.mlflow.log_dataset()`
  inside the run, or the `start_run` helper.

MLflow loads these while importing itself and catches what they raise (it logs a warning and goes
on: no platform tags, the Default experiment), so this module imports nothing at import time and
checks the values only when asked: a malformed value is refused with the platform's message in
that warning, and the run lands outside every `dataops/` experiment, where no sync counts it.
These classes follow MLflow's RunContextProvider / DefaultExperimentProvider interfaces without
subclassing them: importing those base classes here could re-enter MLflow's own import.
"""

from __future__ import annotations

import os

from dataops_platform.mlflow.target import ENV_PROJECT, ENV_VERSION


class DataOpsRunContext:
    """mlflow.tracking.context.RunContextProvider: the platform's run tags from the environment."""

    def in_context(self) -> bool:
        return bool(os.environ.get(ENV_PROJECT) or os.environ.get(ENV_VERSION))

    def tags(self) -> dict[str, str]:
        from dataops_platform.mlflow.target import run_target

        # Both variables are required: one alone raises, naming the other. A digest the platform
        # cannot tell now (server down) does not cost the run its tags.
        return run_target(strict=False).tags()


class DataOpsExperimentProvider:
    """mlflow.tracking.default_experiment.DefaultExperimentProvider: the project's experiment."""

    def in_context(self) -> bool:
        return bool(os.environ.get(ENV_PROJECT))

    def get_experiment_id(self) -> str:
        from dataops_platform.mlflow.run import project_experiment
        from dataops_platform.mlflow.target import run_target

        return project_experiment(run_target(strict=False).project)
