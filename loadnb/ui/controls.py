"""The form of a LoadTest: target URL, load model (users | rate), duration and ramp-up.

Every edit is validated by :func:`loadnb.config.make_spec`, the same function the constructor, the
Python API and the CLI use, so a bad value gets the same message everywhere. The message is shown
next to the field it is about, and the form reports itself invalid (the widget then refuses to
start): an edit never raises into the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W

from ..config import DEFAULT_DURATION, DEFAULT_USERS, LoadSpec, make_spec
from .formatting import html_line

ERROR_COLOR = "#b00020"
_STYLE = {"description_width": "110px"}
#: Message prefixes → the field a ``make_spec`` error is about.
_FIELD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("invalid url", "url"), ("users", "users"), ("rate", "rate"), ("duration", "duration"),
    ("ramp_up", "ramp_up"), ("give either users", "model"),
)


def field_of(message: str) -> str:
    """The form field a ``make_spec`` error message is about (``"other"`` if none).

    >>> field_of("ramp_up (20s) is longer than the duration (8s)")
    'ramp_up'
    """
    low = message.lower()
    for prefix, name in _FIELD_PREFIXES:
        if low.startswith(prefix):
            return name
    return "other"


class Controls:
    """The input widgets, their error labels and validation (see the module docstring).

    ``params`` are the other ``make_spec`` parameters given to the constructor (timeout, headers,
    …): they have no field and are passed through unchanged. ``on_change`` is called after every
    validated edit.
    """

    def __init__(self, spec: LoadSpec, params: dict[str, Any],
                 on_change: Callable[[], None] | None = None) -> None:
        self.params = dict(params)
        #: Called (no arguments) after every validated edit.
        self.on_change = on_change
        self.has_duration = spec.duration is not None
        users = spec.users if spec.rate is None else DEFAULT_USERS
        duration = spec.duration if spec.duration is not None else DEFAULT_DURATION
        wide = W.Layout(width="560px")
        self.url = W.Text(value=spec.url, description="Target URL", continuous_update=False,
                          style=_STYLE, layout=wide)
        self.model = W.ToggleButtons(
            options=[("users (closed model)", "users"), ("rate (open model)", "rate")],
            value="users" if spec.rate is None else "rate", description="Load model",
            tooltips=["virtual users, each sending its next request when the last one ends",
                      "arrivals per second on a fixed schedule"],
            style={**_STYLE, "button_width": "170px"})
        self.users = W.IntSlider(value=users, min=1, max=max(50, 4 * users),
                                 description="Users", continuous_update=False, style=_STYLE,
                                 layout=wide)
        self.rate = W.BoundedFloatText(value=spec.rate or 10.0, min=0.0, max=1e7, step=1.0,
                                       description="Rate (req/s)", style=_STYLE)
        self.duration = W.FloatSlider(
            value=duration, min=0.0, max=max(60.0, 4 * duration), step=0.5,
            description="Duration (s)", readout_format=".1f", continuous_update=False,
            disabled=not self.has_duration, style=_STYLE, layout=wide)
        self.ramp_up = W.FloatSlider(
            value=spec.ramp_up, min=0.0, max=max(30.0, 4 * spec.ramp_up), step=0.5,
            description="Ramp-up (s)", readout_format=".1f", continuous_update=False,
            style=_STYLE, layout=wide)
        self.inputs: dict[str, W.ValueWidget] = {
            "url": self.url, "model": self.model, "users": self.users, "rate": self.rate,
            "duration": self.duration, "ramp_up": self.ramp_up}
        self.errors: dict[str, W.HTML] = {name: W.HTML() for name in (*self.inputs, "other")}
        self.rows = {name: W.HBox([widget, self.errors[name]])
                     for name, widget in self.inputs.items()}
        self.box = W.VBox([*self.rows.values(), self.errors["other"]])
        self.error: str | None = None
        self._show_model()
        for widget in self.inputs.values():
            widget.observe(self._edited, names="value")

    # -- reading ---------------------------------------------------------------------------
    def kwargs(self) -> dict[str, Any]:
        """The ``make_spec`` arguments the form stands for (including the pass-through ones)."""
        closed = self.model.value == "users"
        return {**self.params, "users": self.users.value if closed else None,
                "rate": None if closed else self.rate.value,
                "duration": self.duration.value if self.has_duration else None,
                "ramp_up": self.ramp_up.value}

    def spec(self) -> LoadSpec:
        """The validated spec for the current values (raises ``ValueError`` like ``make_spec``)."""
        return make_spec(self.url.value, **self.kwargs())

    def validate(self) -> LoadSpec | None:
        """Validate the form: the spec, or None with the message shown next to its field."""
        try:
            spec = self.spec()
        except ValueError as exc:
            self.show_error(str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - an edit must never raise into the kernel
            self.show_error(f"{type(exc).__name__}: {exc}")
            return None
        self.show_error(None)
        return spec

    # -- showing ---------------------------------------------------------------------------
    def show_error(self, message: str | None) -> None:
        """Show ``message`` next to the field it is about (None clears every message)."""
        self.error = message
        target = None if message is None else field_of(message)
        for name, label in self.errors.items():
            show = message is not None and name == target
            text = html_line(f"⚠ {message}", color=ERROR_COLOR) if show else ""
            if label.value != text:
                label.value = text

    def set_enabled(self, enabled: bool) -> None:
        """Enable or disable every input (disabled while a run is going on)."""
        for name, widget in self.inputs.items():
            widget.disabled = not enabled or (name == "duration" and not self.has_duration)

    def _show_model(self) -> None:
        closed = self.model.value == "users"
        self.rows["users"].layout.display = None if closed else "none"
        self.rows["rate"].layout.display = "none" if closed else None

    def _edited(self, change: dict[str, Any]) -> None:
        if change.get("owner") is self.model:
            self._show_model()
        self.validate()
        if self.on_change is not None:
            self.on_change()
