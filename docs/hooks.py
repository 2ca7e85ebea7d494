"""MkDocs hook: the reference pages' generated tables (``docs/reference_gen.py``), made at every build."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_gen


def on_page_markdown(markdown, page, config, files):
    return reference_gen.expand(markdown)
