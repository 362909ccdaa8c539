"""The MLflow integration for a team's training code (SPEC §9, docs/mlflow.md): the `start_run`
helper and `log_dataset`, and the plugins (`plugin.py`) that give a plain `mlflow.start_run()`
the project's experiment and the platform's tags from DATAOPS_PROJECT / DATAOPS_DATASET_VERSION.

It talks to MLflow only; the platform judges the runs when it syncs them. Nothing in the platform
imports this package (it is an integration above the services).
"""

from dataops_platform.mlflow.run import log_dataset, project_experiment, start_run
from dataops_platform.mlflow.target import RunTarget, run_target

__all__ = ["RunTarget", "log_dataset", "project_experiment", "run_target", "start_run"]
