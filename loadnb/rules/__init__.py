"""Judging a run: the threshold language (:mod:`~loadnb.rules.thresholds`), alert rules and the
default ones (:mod:`~loadnb.rules.alerts`), the alert engine that fires and clears them
(:mod:`~loadnb.rules.alert_engine`), and webhooks for alert events (:mod:`~loadnb.rules.notify`).

May import :mod:`loadnb.metrics` and :mod:`loadnb.text`; never the engine, the record or a face.
"""

__all__: list[str] = []
