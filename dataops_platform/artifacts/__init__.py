"""Governance artifacts: what the asset graph writes under $DATAOPS_HOME/artifacts/, and how to read them back."""
