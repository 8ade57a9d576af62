"""The dashboard app: a notebook (``app.ipynb``, shipped with the package) that shows the LoadTest
widget and runs nothing until Start is pressed, for Voila (``loadnb app``, ``make voila``).

Environment: ``LOADNB_APP_URL`` (the target; default: the built-in demo server on 127.0.0.1),
``LOADNB_APP_START=1`` (start streaming at once), ``LOADNB_APP_USERS`` and
``LOADNB_APP_DURATION`` (the form's first values; default 10 users for 60 s).
"""

from __future__ import annotations

from pathlib import Path

#: The app notebook (package data): what ``loadnb app`` and ``make voila`` serve.
NOTEBOOK = Path(__file__).with_name("app.ipynb")

__all__ = ["NOTEBOOK"]
