"""The REST API: the platform's authenticated boundary (bearer tokens), over the same services as the CLI."""
