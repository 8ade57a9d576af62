"""Scale-out on Dask: the load from worker processes behind the same run, monitor and faces.

- :mod:`~loadnb.distributed.backend`: :class:`DaskBackend` (the driver side of the
  :class:`~loadnb.engine.backend.Backend` protocol) and :class:`WorkerSource` (one per worker);
- :mod:`~loadnb.distributed.cluster`: the run's cluster, its settings, and :func:`cluster`
  (``loadnb.cluster``: a ``LocalCluster`` kept across runs);
- :mod:`~loadnb.distributed.connect`: the driver's connection to it and the version check;
- :mod:`~loadnb.distributed.worker`: the task each worker runs (its share, on its own uvloop
  loop, publishing each interval with ``log_event``) and the setters the driver calls;
- :mod:`~loadnb.distributed.fanin`, :mod:`~loadnb.distributed.leader`,
  :mod:`~loadnb.distributed.grouped`: fan-in on large clusters (groups' leaders merge their
  members' intervals; the driver merges one part per group);
- :mod:`~loadnb.metrics.codec`: payloads as plain msgpack-able data and back, exactly;
- :mod:`~loadnb.distributed.split`: users, rates, request budgets and data rows split exactly.

Importing this package imports no Dask; :mod:`backend` and :mod:`worker` do, when used.
"""

__all__: list[str] = []
