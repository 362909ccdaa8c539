"""The `dataops` command line: Typer + Rich, heavy libraries imported only by the commands that need them."""
