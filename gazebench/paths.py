"""Where gazebench finds its own files: the checkout (editable installs) or the installed copies
under ``<prefix>/share/gazebench`` (cards and benchmarks.yaml).  Imports nothing heavy."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout, for editable installs
