"""The reference scenario and the deterministic sample data it (and the tests) use."""
