"""The ``loadnb`` command: one module per command (``loadnb run | demo | app | history | show |
compare | capacity | report``), :func:`main` the entry point.

A face: may import everything of loadnb; nothing imports it.
"""

from .command import main

__all__ = ["main"]
