"""Governance services: every mutation goes authorize -> do -> audit in one transaction."""
