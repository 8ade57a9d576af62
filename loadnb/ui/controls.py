"""The form of a LoadTest: target, load model (users | rate), duration and ramp-up.

Every edit is validated by :func:`loadnb.spec.config.make_spec`, the same function the constructor,
the Python API and the CLI use, so a bad value gets the same message everywhere. The message is
shown next to the field it is about, and the form reports itself invalid (the widget then refuses to
start): an edit never raises into the kernel.

The fields show what applies: with a scenario the URL is the (optional) base URL and a read-only
*Target* field shows what is loaded; with stages (or a shape function) the plan sets the load, so
the model is fixed, and the duration and ramp-up sliders are disabled (stages also show their
total duration). While a run goes on every field is disabled except the live one (users in the
closed model, rate in the open model): moving it changes the running load (``on_live``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import traitlets

from ..charts import palette
from ..spec.config import DEFAULT_DURATION, DEFAULT_USERS, LoadSpec, make_spec
from .formatting import html_line
from .panels import plan_text

_STYLE = {"description_width": "110px"}
#: Message prefixes → the field a ``make_spec`` error is about.
_FIELD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("invalid url", "url"), ("users", "users"), ("rate", "rate"), ("duration", "duration"),
    ("ramp_up", "ramp_up"), ("give either users", "model"),
)
#: Seconds a live field must rest before its value changes the running load: a drag or a few
#: arrow-key presses make one change (one marker on the charts), not one per step.
LIVE_DEBOUNCE = 0.3
#: Parameters that set the load over time themselves (at most one is given).
PLAN_PARAMS: tuple[str, ...] = ("stages", "rate_stages", "shape", "rate_shape")


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


def _lenient(trait: type[traitlets.TraitType[Any, Any]]) -> type[traitlets.TraitType[Any, Any]]:
    """``trait`` that, given a value it cannot take (``duration.value = "abc"`` from code), tells
    the widget's ``loadnb_rejected(value)`` and keeps its value instead of raising a TraitError,
    so a value set from code gets the form's message, as a value typed in does."""

    class Lenient(trait):  # type: ignore[valid-type, misc]
        def validate(self, obj: Any, value: Any) -> Any:
            try:
                return super().validate(obj, value)
            except traitlets.TraitError:
                rejected = getattr(obj, "loadnb_rejected", None)
                if rejected is None:
                    raise
                rejected(value)
                return getattr(obj, str(self.name))

    return Lenient


class _IntSlider(W.IntSlider):  # type: ignore[misc]
    value = _lenient(traitlets.CInt)(0, help="Int value").tag(sync=True)


class _FloatSlider(W.FloatSlider):  # type: ignore[misc]
    value = _lenient(traitlets.CFloat)(0.0, help="Float value").tag(sync=True)


class _BoundedFloatText(W.BoundedFloatText):  # type: ignore[misc]
    value = _lenient(traitlets.CFloat)(0.0, help="Float value").tag(sync=True)


class Controls:
    """The input widgets, their error labels and validation (see the module docstring).

    ``params`` are the other ``make_spec`` parameters given to the constructor (scenario, data,
    stages, timeout, headers, …): they have no field of their own and are passed through
    unchanged. ``on_change`` is called after every validated edit; ``on_live(field, value)``
    when the live field is moved during a run.
    """

    def __init__(self, spec: LoadSpec, params: dict[str, Any],
                 on_change: Callable[[], None] | None = None) -> None:
        self.params = dict(params)
        if spec.headers:  # credentials given in the URL are now an Authorization header
            self.params["headers"] = dict(spec.headers)
        #: Called (no arguments) after every validated edit.
        self.on_change = on_change
        #: Called with ``("users" | "rate", value)`` when the live field moves during a run.
        self.on_live: Callable[[str, Any], None] | None = None
        #: The plan parameter given (``stages``, ``rate_stages``, ``shape``, ``rate_shape``).
        self.plan = next((k for k in PLAN_PARAMS if self.params.get(k) is not None), None)
        self.scenario = spec.scenario is not None
        self.has_duration = spec.duration is not None
        #: The field a running test's load follows (None while no run goes on).
        self.live: str | None = None
        #: The last valid spec of the form (None while it is invalid).
        self.last_spec: LoadSpec | None = spec
        self._quiet = False
        self._live_timer: asyncio.TimerHandle | None = None
        self._make_fields(spec)
        self.plan_note = W.HTML(html_line(plan_text(spec), color=palette.MUTED))
        self.inputs: dict[str, W.ValueWidget] = {
            "url": self.url, "model": self.model, "users": self.users, "rate": self.rate,
            "duration": self.duration, "ramp_up": self.ramp_up}
        self.errors: dict[str, W.HTML] = {name: W.HTML() for name in (*self.inputs, "other")}
        self.rows = {name: W.HBox([widget, self.errors[name]])
                     for name, widget in self.inputs.items()}
        shown = [self.rows["url"], *([self.target] if self.scenario else []),
                 *[self.rows[n] for n in ("model", "users", "rate", "duration", "ramp_up")],
                 *([self.plan_note] if self.plan else [])]
        self.box = W.VBox([*shown, self.errors["other"]])
        self.error: str | None = None
        self._show_model()
        self.set_running(None)
        for name, widget in self.inputs.items():
            widget.observe(self._edited, names="value")
            widget.loadnb_rejected = lambda value, name=name: self._rejected(name, value)

    def _make_fields(self, spec: LoadSpec) -> None:
        """The form's fields, set from ``spec``."""
        users = spec.users if spec.rate is None else DEFAULT_USERS
        duration = spec.duration if spec.duration is not None else DEFAULT_DURATION
        wide = W.Layout(width="560px")
        self.url = W.Text(value=spec.url, description="Base URL" if self.scenario else "Target URL",
                          placeholder="none: the scenario uses absolute URLs" if self.scenario
                          else "http://host:port/path", continuous_update=False,
                          style=_STYLE, layout=wide)
        self.target = W.Text(value=spec.target, description="Target", disabled=True,
                             style=_STYLE, layout=wide,
                             tooltip="what the run loads (from the scenario and the base URL)")
        self.model = W.ToggleButtons(
            options=[("users (closed model)", "users"), ("rate (open model)", "rate")],
            value="users" if spec.rate is None else "rate", description="Load model",
            tooltips=["virtual users, each sending its next request when the last one ends",
                      "arrivals per second on a fixed schedule"],
            style={**_STYLE, "button_width": "170px"})
        self.users = _IntSlider(value=users, min=1, max=max(50, 4 * users),
                                 description="Users", continuous_update=False, style=_STYLE,
                                 layout=wide)
        self.rate = _BoundedFloatText(value=spec.rate or 10.0, min=0.0, max=1e7, step=1.0,
                                       description="Rate (req/s)", continuous_update=False,
                                       style=_STYLE)
        self.duration = _FloatSlider(
            value=duration, min=0.0, max=max(60.0, 4 * duration), step=0.5,
            description="Duration (s)", readout_format=".1f", continuous_update=False,
            style=_STYLE, layout=wide)
        self.ramp_up = _FloatSlider(
            value=spec.ramp_up, min=0.0, max=max(30.0, 4 * spec.ramp_up), step=0.5,
            description="Ramp-up (s)", readout_format=".1f", continuous_update=False,
            style=_STYLE, layout=wide)

    # -- reading ---------------------------------------------------------------------------
    def fixed(self, name: str) -> bool:
        """Whether field ``name`` is set by the plan (stages or a shape) rather than by the form."""
        if self.plan is None:
            return False
        if name in ("model", "ramp_up") or (name == "duration" and self.plan.endswith("stages")):
            return True
        return name in ("users", "rate")

    def checked_kwargs(self) -> dict[str, Any]:
        """:meth:`kwargs`, once the form is valid (its ``ValueError`` otherwise)."""
        self.spec()
        return self.kwargs()

    def kwargs(self) -> dict[str, Any]:
        """The ``make_spec`` arguments the form stands for (including the pass-through ones)."""
        closed = self.model.value == "users"
        url = self.url.value.strip()
        kw: dict[str, Any] = {**self.params, "url": None if self.scenario and not url else url}
        if self.plan is None or self.plan.endswith("shape"):
            kw["users"] = self.users.value if closed else None
            kw["rate"] = None if closed else self.rate.value
        if self.plan is None or not self.plan.endswith("stages"):
            kw["duration"] = self.duration.value if self.has_duration else None
        if self.plan is None:
            kw["ramp_up"] = self.ramp_up.value
        return kw

    def spec(self) -> LoadSpec:
        """The validated spec for the current values (raises ``ValueError`` like ``make_spec``)."""
        return make_spec(**self.kwargs())

    def validate(self) -> LoadSpec | None:
        """Validate the form: the spec, or None with the message shown next to its field."""
        try:
            spec = self.spec()
        except ValueError as exc:
            self.show_error(str(exc))
            self.last_spec = None
            return None
        except Exception as exc:  # noqa: BLE001 - an edit must never raise into the kernel
            self.show_error(f"{type(exc).__name__}: {exc}")
            self.last_spec = None
            return None
        self.show_error(None)
        self.last_spec = spec
        if self.target.value != spec.target:
            self.target.value = spec.target
        return spec

    # -- showing ---------------------------------------------------------------------------
    def show_error(self, message: str | None) -> None:
        """Show ``message`` next to the field it is about (None clears every message)."""
        self.error = message
        target = None if message is None else field_of(message)
        for name, label in self.errors.items():
            show = message is not None and name == target
            text = html_line(f"⚠ {message}", color=palette.ERROR) if show else ""
            if label.value != text:
                label.value = text

    def set_running(self, live: str | None, spec: LoadSpec | None = None) -> None:
        """``live`` (``"users"`` or ``"rate"``): a run goes on and only that field stays enabled
        (it changes the running load); None: no run, every field that applies is enabled.

        When a run of ``spec`` ends, a field its plan sets shows the plan's value again, and the
        form is validated (it may have been changed from code during the run).
        """
        ended = self.live is not None and live is None
        self.live = live
        self._cancel_live()
        for name, widget in self.inputs.items():
            if live is not None:
                disabled = name != live
            else:
                disabled = self.fixed(name) or (name == "duration" and not self.has_duration)
            if widget.disabled != disabled:
                widget.disabled = disabled
        # a running load may be drained to 0 users; a new run starts with at least 1
        self.set_quietly("users_min", 0 if live == "users" else 1)
        if ended:
            if self.plan is not None and spec is not None:
                closed = spec.rate is None
                self.set_quietly("users" if closed else "rate",
                                 spec.users if closed else spec.rate)
            self.validate()

    def set_quietly(self, name: str, value: Any) -> None:
        """Set a field without treating it as an edit (``users_min``: the users slider's min)."""
        self._quiet = True
        if name == self.live:
            self._cancel_live()  # a value set from code wins over a pending edit
        try:
            if name == "users_min":
                self.users.min = value
            elif name == "users":
                self.users.max = max(self.users.max, int(value))
                self.users.value = int(value)
            elif name == "rate":
                self.rate.value = float(value)
            else:
                self.inputs[name].value = value
        finally:
            self._quiet = False

    def _debounce_live(self, name: str, value: Any) -> None:
        """Call ``on_live(name, value)`` once the field has rested :data:`LIVE_DEBOUNCE` s."""
        self._cancel_live()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to wait on (not in a kernel): apply at once
            self._apply_live(name, value)
            return
        self._live_timer = loop.call_later(LIVE_DEBOUNCE, self._apply_live, name, value)

    def _apply_live(self, name: str, value: Any) -> None:
        self._live_timer = None
        if self.live == name and self.on_live is not None:
            self.on_live(name, value)

    def _cancel_live(self) -> None:
        if self._live_timer is not None:
            self._live_timer.cancel()
            self._live_timer = None

    def _show_model(self) -> None:
        closed = self.model.value == "users"
        self.rows["users"].layout.display = None if closed else "none"
        self.rows["rate"].layout.display = "none" if closed else None

    def _rejected(self, name: str, value: Any) -> None:
        """A value set from code that the field cannot hold: the form's message for it (what
        ``make_spec`` says of it), shown next to the field; the field keeps its value."""
        kw = {**self.kwargs(), name: value}
        if name in ("users", "rate"):  # judge the value in its own model
            kw["rate" if name == "users" else "users"] = None
        try:
            make_spec(**kw)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self.show_error(f"{name.replace('_', ' ')}: {value!r} does not fit this field")

    def _edited(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        owner = change.get("owner")
        if self.live is not None:
            if owner is self.inputs[self.live]:
                self._debounce_live(self.live, change.get("new"))
            return
        if owner is self.model:
            self._show_model()
        self.validate()
        if self.on_change is not None:
            self.on_change()


__all__ = ["LIVE_DEBOUNCE", "PLAN_PARAMS", "Controls", "field_of"]
