"""The ``loadnb`` command: one module per command (``run``, ``history`` with ``show`` and
``compare``, ``capacity``, ``report``, ``app``, ``demo``), ``args`` what they share (exit codes,
bad input, number and output-file checks), ``command`` the parser and :func:`main`, the entry
point.

A face: may import everything of loadnb; nothing imports it.
"""

from .command import main

__all__ = ["main"]
