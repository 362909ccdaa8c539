"""MLflow as the system of record for experiment runs: logging, the regression policy, and sync."""
