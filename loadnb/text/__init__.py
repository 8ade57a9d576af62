"""Plain text and numbers: the functions every layer uses to show or store a value.

Holds :mod:`~loadnb.text.redact` (secrets out of URLs, headers and samples). Imports nothing of
loadnb: it is the ground floor.
"""
