"""dataops_platform: a governance plane for data and ML teams on Dagster and MLflow."""

__version__ = "0.1.0"
