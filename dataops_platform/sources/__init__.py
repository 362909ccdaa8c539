"""Where a dataset version's data lives: one interface (`DataSource`), one small module per backend.

`open_source(text, root=...)` chooses the backend from the text: a local path, `file://` URI,
directory or glob (`local`). Every backend yields the same thing, (where, record) pairs per file
under the read limits, and an immutable pin; `dataops_platform_tests/data/test_source_contract.py`
is the one contract every backend passes.
"""

from dataops_platform.sources.base import DataSource, open_source

__all__ = ["DataSource", "open_source"]
