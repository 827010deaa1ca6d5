"""Domino's error-aware mixture model, with EM written from the model's definition.

Model. Embeddings are reduced by PCA to at most ``n_pca_components`` = 128 dims (scaled by one
common factor so that ``reg_covar`` is relative). Each of K components has a weight π_k, a diagonal
Gaussian N(μ_k, diag σ²_k) over the reduced embedding x, a categorical φ_k over the label y and a
categorical ψ_k over the prediction ŷ (``probs`` rows, i.e. soft). The per-sample log-likelihood
under component k is

    log π_k + log N(x | μ_k, σ²_k) + γ_y Σ_c y_c log φ_kc + γ_ŷ Σ_c ŷ_c log ψ_kc,

and EM alternates posteriors r_ik (E) with weighted maximum-likelihood updates (M; every mean,
variance and categorical is smoothed by a pseudo-count 1e-3 towards the global statistics, so empty
components stay finite). EM stops after ``max_iter`` rounds or when the mean log-likelihood improves
by less than ``tol``.

Initialisation ("confusion"). The K = min(``n_components``, n) components are shared out over the
non-empty cells (y, argmax ŷ) of the confusion matrix, one per cell first and the rest in proportion
to cell size (D'Hondt); the first responsibilities are ``1[cell_i = cell_k]`` plus uniform noise of
size ``init_noise`` (seeded from ``random_state``), normalised.

Slices. Each component's error is its posterior-weighted mean of ``1 - p(y_i)`` on the fitting
split. The ``n_slices`` components with the highest error (among those with mass >= 0.5 samples;
ties: heavier, then index) are the columns; scores are the test posteriors P(k | x, y, ŷ). If fewer
components exist than ``n_slices``, the extra columns are zero.

Defaults are the official code's (domino 0.1.5 ``DominoSlicer``): ``n_pca_components`` = 128,
``n_components`` = 25, γ_y = γ_ŷ = 1 (``y_log_likelihood_weight`` / ``y_hat_log_likelihood_weight``),
``max_iter`` = 100, confusion-matrix initialisation with noise 1e-3. Until version 1 γ defaulted to
10, an unchecked choice: on bloodmnist rare_subclass it gave P@10 0.36 where the official slicer
gets 0.94 and ours with γ = 1 gets 0.98 (issue 8). Known deviations from the official code, each
measured in ``benchmarks/fidelity/compare.py`` (table in ``docs/methods.md``): PCA scaled by one
common factor with ``reg_covar`` relative to it (official: unscaled PCA, absolute 1e-6); the ŷ term
is Σ_c ŷ_c log ψ_kc (official: log Σ_c ŷ_c ψ_kc); hard confusion cells shared out by D'Hondt
(official: soft y ⊗ ŷ, cells repeated cyclically, so it needs K >= C², which fails with the
default 25 components for C > 5 classes); components chosen by posterior-weighted error (official:
largest |max_c(ψ_kc - φ_kc)|); stopping tolerance 1e-5 on the mean log-likelihood (official 1e-3).

Citation:
    Eyuboglu, Varma, Saab, Delbrouck, Lee-Messer, Dunnmon, Zou, Ré. "Domino: Discovering
    Systematic Errors with Cross-Modal Embeddings." ICLR 2022.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from medstrata.methods._common import Projection, fit_pca
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)
_PSEUDO = 1e-3


@register_method("domino_mixture")
class DominoMixtureMethod(SliceDiscoveryMethod):
    """Error-aware Gaussian/categorical mixture; the highest-error components are the slices."""

    version = "2"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0, n_components: int = 25,
                 n_pca_components: int = 128, y_weight: float = 1.0, y_hat_weight: float = 1.0,
                 max_iter: int = 100, tol: float = 1e-5, reg_covar: float = 1e-3,
                 init_noise: float = 1e-3) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.n_components = n_components
        self.n_pca_components = n_pca_components
        self.y_weight = y_weight
        self.y_hat_weight = y_hat_weight
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.init_noise = init_noise

    def _fit(self, problem: Problem) -> None:
        self.projection_: Projection = fit_pca(problem.embeddings, self.n_pca_components, "global")
        x, y, yh = self._inputs(problem)
        resp, last, iteration = self._init_resp(problem), -np.inf, 0
        while iteration < self.max_iter:
            iteration += 1
            self._m_step(x, y, yh, resp)
            log_r, ll = self._e_step(x, y, yh)
            resp = np.exp(log_r)
            if ll - last < self.tol:
                break
            last = ll
        self._m_step(x, y, yh, resp)
        self.n_iter_ = iteration
        self._select(problem, np.exp(self._e_step(x, y, yh)[0]))

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, #selected components) posteriors."""
        log_r, _ = self._e_step(*self._inputs(problem))
        return np.exp(log_r[:, self.slices_])

    def _inputs(self, problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.projection_(problem.embeddings)
        y = np.eye(problem.n_classes)[problem.labels]
        return x, y, np.asarray(problem.probs, dtype=np.float64)

    def _init_resp(self, problem: Problem) -> np.ndarray:
        """(n, K) initial responsibilities from the confusion-matrix cells."""
        cell = problem.labels * problem.n_classes + problem.preds
        cells, counts = np.unique(cell, return_counts=True)
        k = max(1, min(self.n_components, problem.n))
        owner = _dhondt(counts, k)  # (K,) index into cells
        resp = (cell[:, None] == cells[owner][None, :]).astype(np.float64)
        resp += self.init_noise * self._rng("init").random(resp.shape)
        return resp / resp.sum(axis=1, keepdims=True)

    def _m_step(self, x: np.ndarray, y: np.ndarray, yh: np.ndarray, r: np.ndarray) -> None:
        mass = r.sum(axis=0)  # (K,)
        denom = (mass + _PSEUDO)[:, None]
        self.weights_ = (mass + _PSEUDO) / (mass.sum() + _PSEUDO * len(mass))
        self.means_ = (r.T @ x + _PSEUDO * x.mean(axis=0)) / denom
        second = (r.T @ x**2 + _PSEUDO * (x**2).mean(axis=0)) / denom
        self.vars_ = np.maximum(second - self.means_**2, 0.0) + self.reg_covar
        self.y_probs_ = (r.T @ y + _PSEUDO * y.mean(axis=0) + 1e-12) / (denom + 1e-12)
        self.y_hat_probs_ = (r.T @ yh + _PSEUDO * yh.mean(axis=0) + 1e-12) / (denom + 1e-12)
        self.mass_ = mass

    def _e_step(self, x: np.ndarray, y: np.ndarray, yh: np.ndarray) -> tuple[np.ndarray, float]:
        """(n, K) log posteriors and the mean log-likelihood."""
        prec = 1.0 / self.vars_
        log_gauss = -0.5 * (
            (x**2) @ prec.T - 2 * x @ (self.means_ * prec).T + np.sum(self.means_**2 * prec, axis=1)
            + np.sum(np.log(2 * np.pi * self.vars_), axis=1))
        joint = (np.log(self.weights_) + log_gauss + self.y_weight * y @ np.log(self.y_probs_).T
                 + self.y_hat_weight * yh @ np.log(self.y_hat_probs_).T)
        norm = logsumexp(joint, axis=1, keepdims=True)
        return joint - norm, float(norm.mean())

    def _select(self, problem: Problem, resp: np.ndarray) -> None:
        err = 1.0 - problem.probs[np.arange(problem.n), problem.labels]
        mass = resp.sum(axis=0)
        comp_err = resp.T @ err / np.maximum(mass, 1e-12)
        idx = np.arange(len(mass))
        order = np.lexsort((idx, -mass, -comp_err, mass < 0.5))
        self.component_errors_ = comp_err
        self.slices_ = order[: self.n_slices]


def _dhondt(counts: np.ndarray, k: int) -> np.ndarray:
    """Share ``k`` seats over cells with ``counts``: one each by size first, then D'Hondt.

    Returns:
        (k,) int index of the cell owning each component.
    """
    order = np.lexsort((np.arange(len(counts)), -counts))
    seats = np.zeros(len(counts), dtype=np.int64)
    owner = []
    for j in range(k):
        if j < len(counts):
            c = order[j]
        else:
            c = int(np.argmax(counts / (seats + 1)))
        seats[c] += 1
        owner.append(c)
    return np.asarray(owner)
