"""Fjord Freight's late-delivery pipeline, governed by the DataOps platform (README.md)."""
