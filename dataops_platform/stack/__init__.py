"""The platform on shared services (SPEC §14): PostgreSQL for the three stores, an MLflow
tracking server, the Dagster daemon with the spec's task queues as pool limits, and Celery
workers over Redis. `dataops stack up|down|status|config` runs a local production-like stack."""
