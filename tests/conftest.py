"""Suite-wide settings: every run in the tests checks its own accounting (LOADNB_DEBUG=1)."""

from __future__ import annotations

import os

os.environ.setdefault("LOADNB_DEBUG", "1")
os.environ.setdefault("BOKEH_RESOURCES", "inline")
