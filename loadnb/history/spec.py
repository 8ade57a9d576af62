"""What a loaded run knows of its spec: the stored, secret-free parameters.

A :class:`~loadnb.spec.config.LoadSpec` cannot be rebuilt from the history (secrets, bodies and
scenario code are not kept), so a loaded record carries a :class:`StoredSpec`: the attributes a
:class:`~loadnb.results.result.Result` reads (``url``, ``target``, ``model``, ``rate``,
``expected_interval``, ``interval``) and :meth:`public_params` as stored.

>>> spec = StoredSpec("http://127.0.0.1/", "http://127.0.0.1/", {"model": "closed"})
>>> spec.model, spec.rate
('closed', None)
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ..spec.config import LoadSpec


class StoredSpec:
    """The stored parameters of a run, shaped like the parts of a LoadSpec a Result reads."""

    def __init__(self, url: str, target: str, params: dict[str, Any]) -> None:
        self.url, self.target, self.params = url, target, params
        self.model: str = params.get("model") or "closed"
        self.rate: float | None = params.get("rate")
        self.expected_interval: float | None = params.get("expected_interval")
        self.interval: float = params.get("interval") or 0.5
        self.history: str | None = params.get("history")

    def __repr__(self) -> str:
        return f"StoredSpec({self.target!r})"

    def public_params(self) -> dict[str, Any]:
        """The parameters as stored (already secret-free)."""
        return dict(self.params)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LoadSpec:
        """The spec of a ``runs`` row, typed as the LoadSpec it stands for."""
        params: dict[str, Any] = json.loads(row["params"])
        return cast("LoadSpec", cls(str(params.get("url") or ""), str(row["target"]), params))


__all__ = ["StoredSpec"]
