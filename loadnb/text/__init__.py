"""Plain text and numbers: the functions every layer uses to show or store a value.

Holds :mod:`~loadnb.text.redact` (secrets out of URLs, headers and samples),
:mod:`~loadnb.text.units` (durations), :mod:`~loadnb.text.jsonsafe` (plain JSON values) and
:mod:`~loadnb.text.numbers` (the one set of number formatters every face uses). Imports nothing
of loadnb: it is the ground floor.
"""

__all__: list[str] = []
