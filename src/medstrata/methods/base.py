"""The discovery-method protocol: scikit-learn's estimator contract on a :class:`Problem`.

A method is fitted on the validation :class:`~medstrata.problem.Problem` and scores the test one
(dcbench's protocol). Subclasses implement two hooks, :meth:`SliceDiscoveryMethod._fit` and
:meth:`SliceDiscoveryMethod._score`; the public :meth:`~SliceDiscoveryMethod.fit` and
:meth:`~SliceDiscoveryMethod.predict_proba` wrap them so that every method, built-in or plug-in,

* sees its rows **sorted by sample id** (so its output cannot depend on the order of the rows it is
  given; the scores are put back in the caller's row order afterwards);
* returns exactly ``(n, n_slices)`` finite floats in [0, 1] (a hook may return fewer columns; the
  missing ones are padded with zeros, which is how every method answers ``n_slices`` larger than
  what it can find, e.g. ``n_slices > n``);
* draws randomness only from :meth:`SliceDiscoveryMethod._seed`, a stable function of the method's
  name, ``random_state`` and a purpose string, never from the global RNG.
"""

from __future__ import annotations

import numbers
import textwrap
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from medstrata.errors import MedStrataError
from medstrata.hashing import keyed_seed
from medstrata.problem import Problem


class MethodError(MedStrataError):
    """A discovery method was given parameters or inputs it cannot work with."""


class SliceDiscoveryMethod(BaseEstimator):
    """Base class of every discovery method.

    Class attributes (set on each subclass):
        version: bump whenever the method's outputs change for the same inputs and parameters.
        is_oracle: True only for methods that read ground truth (the oracle control).
        is_control: True for the random and oracle controls (they bound the benchmark; they are
            not candidate discovery methods and are excluded from the planted-strata testbeds).
        citation: BibTeX-ish citation of the method's source (empty string is not allowed).
        method_name: the public registry name, set by :func:`~medstrata.methods.register_method`.
        needs_identification_model: True when the method reads ``Problem.id_probs`` (JTT's
            briefly trained ERM); the runner then trains that model too.

    Subclasses define ``__init__`` with explicit keyword arguments (scikit-learn reads the
    signature for ``get_params``), store them unchanged, and do nothing else there.
    """

    version: ClassVar[str] = "1"
    is_oracle: ClassVar[bool] = False
    is_control: ClassVar[bool] = False
    citation: ClassVar[str] = ""
    method_name: ClassVar[str] = ""
    needs_identification_model: ClassVar[bool] = False

    def __init__(self, n_slices: int = 5, random_state: int | None = 0) -> None:
        self.n_slices = n_slices
        self.random_state = random_state

    # ----------------------------------------------------------------------------------- public
    def fit(self, problem: Problem) -> "SliceDiscoveryMethod":
        """Fit on ``problem`` (the validation split). Returns ``self``."""
        self._check_params()
        _check_problem(problem)
        self._fit(_sorted(problem))
        self.n_classes_ = int(problem.n_classes)
        self.n_fit_samples_ = int(problem.n)
        return self

    def predict_proba(self, problem: Problem) -> np.ndarray:
        """Slice scores for ``problem`` (the test split).

        Returns:
            (n, n_slices) float64 in [0, 1], rows in the order of ``problem.sample_ids``.
        """
        check_is_fitted(self, "n_fit_samples_")
        _check_problem(problem)
        if problem.n_classes != self.n_classes_:
            raise MethodError(
                f"{type(self).__name__} was fitted on {self.n_classes_} classes, "
                f"got a Problem with {problem.n_classes}")
        order = np.argsort(problem.sample_ids, kind="stable")
        scores = self._finish(self._score(problem.take(order)), problem.n)
        out = np.empty_like(scores)
        out[order] = scores
        return out

    # ------------------------------------------------------------------------------ subclasses
    def _fit(self, problem: Problem) -> None:
        """Learn fitted attributes (names ending in ``_``) from ``problem``, rows sorted by id."""
        raise NotImplementedError

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, k) scores in [0, 1] with k <= n_slices for ``problem``, rows sorted by id."""
        raise NotImplementedError

    # --------------------------------------------------------------------------------- helpers
    def _seed(self, *purpose: Any) -> int:
        """A 31-bit seed derived from (method name, random_state, purpose); for library calls."""
        state = 0 if self.random_state is None else int(self.random_state)
        name = self.method_name or type(self).__name__
        return keyed_seed("medstrata.methods", name, state, *purpose) % (2**31 - 1)

    def _rng(self, *purpose: Any) -> np.random.Generator:
        """A numpy Generator seeded by :meth:`_seed`."""
        return np.random.default_rng(self._seed(*purpose))

    def _check_params(self) -> None:
        n = self.n_slices
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise MethodError(f"{type(self).__name__}: n_slices must be an int >= 1, got {n!r}")
        rs = self.random_state
        if rs is not None and (not isinstance(rs, numbers.Integral) or isinstance(rs, bool)):
            raise MethodError(
                f"{type(self).__name__}: random_state must be an int or None (None means 0), "
                f"got {type(rs).__name__}")

    def _finish(self, scores: np.ndarray, n: int) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[0] != n or scores.shape[1] > self.n_slices:
            raise MethodError(
                f"{type(self).__name__}._score returned shape {scores.shape}, "
                f"expected ({n}, <= {self.n_slices})")
        if not np.all(np.isfinite(scores)):
            raise MethodError(f"{type(self).__name__}._score returned non-finite scores")
        out = np.zeros((n, int(self.n_slices)), dtype=np.float64)
        out[:, : scores.shape[1]] = np.clip(scores, 0.0, 1.0)
        return out


def citation_block(doc: str | None) -> str:
    """The text after ``Citation:`` in a module docstring, dedented; for ``citation = ...``."""
    if not doc or "Citation:" not in doc:
        raise MethodError("a discovery method's docstring must contain a 'Citation:' block")
    return textwrap.dedent(doc.split("Citation:", 1)[1]).strip()


def _check_problem(problem: Problem) -> None:
    if not isinstance(problem, Problem):
        raise MethodError(
            f"discovery methods take a medstrata Problem, got {type(problem).__name__}")
    if problem.n < 1:
        raise MethodError("the Problem has no samples")


def _sorted(problem: Problem) -> Problem:
    """``problem`` with its rows sorted by sample id."""
    return problem.take(np.argsort(problem.sample_ids, kind="stable"))
