"""Dagster only: the governance assets (one per artifact), the 13 asset checks, resources."""
