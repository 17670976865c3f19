"""lit configuration for pimc's FileCheck golden tests (run `lit tests/filecheck` from anywhere).

RUN lines call `pimc` and `filecheck` (the Python FileCheck clone). The directory of the Python
that runs lit goes first on PATH, so the tools of that environment are used even when it is not
activated (pytest started as /path/to/venv/bin/python -m pytest).
"""
import os
import sys

import lit.formats

config.name = "pimc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.excludes = ["Output", "lit.cfg.py"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))
config.test_exec_root = config.test_source_root

bin_dir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
# Stable output: no colour codes or terminal-width wrapping from rich/typer in captured stderr.
config.environment["NO_COLOR"] = "1"
config.environment["COLUMNS"] = "200"
