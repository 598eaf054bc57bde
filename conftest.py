"""Repository-root pytest configuration: the package's docstring Examples are collected as doctests
(setup.cfg: testpaths = tests wcrnn_dyn, --doctest-modules); ``python -m wcrnn_dyn`` is the CLI and must
not be imported by the collector; ``wcrnn_dyn/io.py`` is a deprecated alias that warns on import (tested in
tests/test_store.py)."""
collect_ignore = ["wcrnn_dyn/__main__.py", "wcrnn_dyn/io.py"]
