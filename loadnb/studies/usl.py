"""The Universal Scalability Law, fitted by least squares with numpy (no scipy).

Throughput at concurrency N: ``X(N) = λN / (1 + σ(N−1) + κN(N−1))``, with σ the contention
(serialised share of the work) and κ the coherency cost (crosstalk). For given σ and κ the model
is linear in λ, so λ has a closed form (``Σ X g / Σ g²`` with ``g = N / (1 + σ(N−1) + κN(N−1))``);
:func:`fit_usl` searches σ ∈ [0, 1] and κ ≥ 0 on a grid (κ on a log scale, and 0) and zooms in
around the best point for several rounds. The peak is at ``N* = sqrt((1−σ)/κ)``; with κ = 0 there
is no peak, throughput approaches ``λ/σ``.

>>> n = [1, 2, 4, 8, 16, 32]
>>> fit = fit_usl(n, [usl(x, 100.0, 0.05, 0.002) for x in n])
>>> round(fit.sigma, 3), round(fit.kappa, 4), round(fit.lam, 1)
(0.05, 0.002, 100.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_ROUNDS = 8  # zoom rounds after the coarse grid


def usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    """X(N) of the USL."""
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


@dataclass(frozen=True)
class UslFit:
    """A fitted USL: ``lam`` (λ, throughput of one user), ``sigma``, ``kappa``; ``r2`` of the fit;
    ``peak_users`` (N*, ``inf`` when κ = 0) and ``peak_throughput`` (X(N*), or the asymptote
    λ/σ when κ = 0; None when neither is finite)."""

    lam: float
    sigma: float
    kappa: float
    r2: float

    def predict(self, n: float) -> float:
        """Throughput the fit predicts at concurrency ``n``."""
        return usl(n, self.lam, self.sigma, self.kappa)

    @property
    def peak_users(self) -> float:
        if self.kappa <= 0:
            return math.inf
        return math.sqrt(max(0.0, 1 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float | None:
        if self.kappa > 0:
            return self.predict(max(1.0, self.peak_users))
        return self.lam / self.sigma if self.sigma > 0 else None

    def as_dict(self) -> dict[str, float | None]:
        peak = self.peak_users
        return {"lambda": self.lam, "sigma": self.sigma, "kappa": self.kappa, "r2": self.r2,
                "peak_users": peak if math.isfinite(peak) else None,
                "peak_throughput": self.peak_throughput}


def _best(n: np.ndarray, x: np.ndarray, sigmas: np.ndarray,
          kappas: np.ndarray) -> tuple[float, float, float, float]:
    """(sse, λ, σ, κ) of the best grid point."""
    s = sigmas[:, None, None]
    k = kappas[None, :, None]
    g = n / (1 + s * (n - 1) + k * n * (n - 1))  # (σ, κ, N)
    lam = (g * x).sum(axis=2) / (g * g).sum(axis=2)
    sse = ((lam[:, :, None] * g - x) ** 2).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    return float(sse[i, j]), float(lam[i, j]), float(sigmas[i]), float(kappas[j])


def fit_usl(users: Sequence[float], throughput: Sequence[float]) -> UslFit:
    """Least-squares USL fit of measured ``throughput`` at concurrencies ``users`` (at least three
    distinct ones, all positive). Raises ValueError otherwise."""
    n = np.asarray(users, dtype=float)
    x = np.asarray(throughput, dtype=float)
    if n.shape != x.shape or len(set(n.tolist())) < 3:
        raise ValueError("a USL fit needs throughput at three or more distinct concurrencies")
    if not (np.all(np.isfinite(n)) and np.all(n >= 1) and np.all(np.isfinite(x))
            and np.all(x >= 0)):
        raise ValueError("concurrencies must be >= 1 and throughputs finite and >= 0")
    sigmas = np.linspace(0.0, 1.0, 101)
    kappas = np.concatenate(([0.0], np.logspace(-8, 0, 81)))
    _, lam, sigma, kappa = _best(n, x, sigmas, kappas)
    ds, kr = 0.01, 10 ** 0.1
    for _ in range(_ROUNDS):
        sigmas = np.clip(np.linspace(sigma - 2 * ds, sigma + 2 * ds, 41), 0.0, 1.0)
        low = kappa / kr ** 2 if kappa > 0 else 1e-9
        kappas = np.concatenate(([0.0], np.geomspace(low, (kappa or 1e-9) * kr ** 2, 41)))
        _, lam, sigma, kappa = _best(n, x, sigmas, kappas)
        ds, kr = ds / 8, kr ** 0.25
    pred = np.array([usl(v, lam, sigma, kappa) for v in n])
    total = float(((x - x.mean()) ** 2).sum())
    r2 = 1 - float(((x - pred) ** 2).sum()) / total if total > 0 else 1.0
    return UslFit(lam=lam, sigma=sigma, kappa=kappa, r2=r2)


__all__ = ["UslFit", "fit_usl", "usl"]
