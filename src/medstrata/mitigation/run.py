"""One mitigation: a discovery method's groups on train and val -> fitted strategy -> test probabilities.

**Protocol** (documented in ``docs/mitigation.md``): the discovery method is fitted on the val
Problem (as in the benchmark run) and applied to the **train** and **val** Problems; their
``argmax`` slices give the groups (:mod:`medstrata.mitigation.data`). The strategy is fitted on
train (DFR: on val, split in halves) with model selection on val. The test Problem is used for one
thing only: its features go through the fitted head. Its labels are never read here, and no
discovery method is ever applied to it for mitigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from medstrata.mitigation.data import MitigationError, make_split
from medstrata.mitigation.registry import get_strategy
from medstrata.problem import Problem


class Slicer(Protocol):
    """A fitted discovery method: ``predict_proba(Problem) -> (n, n_slices)``."""

    def predict_proba(self, problem: Problem) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class MitigationResult:
    """Attributes: ``strategy``; ``params`` (chosen grid point + step); ``val_score`` (its val
    selection score); ``test_probs`` (n_test, C) in the test Problem's row order; ``head_params``
    (d + 1, C) the fitted weights and bias; ``n_groups_train`` (groups present in train, 0 = none)."""

    strategy: str
    params: dict[str, Any]
    val_score: float
    test_probs: np.ndarray
    head_params: np.ndarray
    n_groups_train: int


def mitigate(strategy: str, train: Problem, val: Problem, test: Problem, slicer: Slicer | None = None,
             key: str = "medstrata", slicer_inputs: tuple[Problem, Problem] | None = None) -> MitigationResult:
    """Fit ``strategy`` on ``train``/``val`` with ``slicer``'s groups (None: no groups); score ``test``.

    Args:
        strategy: registry name (``erm``, ``group_dro``, ``dfr``, ``jtt_upweight``, ...).
        train, val: Problems with the frozen features in ``embeddings`` (n, d).
        test: only ``test.embeddings`` (n_test, d) is read.
        slicer: a discovery method fitted on ``val`` (never on test), or None.
        key: keys every random draw of the strategy (e.g. the task id and seed).
        slicer_inputs: (train, val) Problems the slicer scores when its embedding differs from the
            head's features (same samples; joined to ``train``/``val`` by sample id); default
            ``(train, val)``.
    """
    strat = get_strategy(strategy, key=key)
    use = slicer if strat.uses_groups else None
    inputs = slicer_inputs or (train, val)
    splits = [make_split(p, None if use is None else _scores(use, q, p)) for p, q in zip((train, val), inputs)]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # small products: one BLAS thread is 2x faster than two here
        strat.fit(*splits)
        test_probs = strat.predict_proba(test.embeddings)
    groups = splits[0].groups
    return MitigationResult(strategy, dict(strat.params_), float(strat.val_score_), test_probs,
                            strat.head_.params(), 0 if groups is None else len(np.unique(groups)))


def _scores(slicer: Slicer, problem: Problem, target: Problem) -> np.ndarray:
    """(n, k) slice scores of ``problem``, rows reordered to ``target``'s sample ids."""
    scores = np.asarray(slicer.predict_proba(problem), dtype=np.float64)
    if scores.ndim != 2 or len(scores) != problem.n:
        raise MitigationError(f"the discovery method returned shape {scores.shape} for {problem.n} samples")
    position = {s: i for i, s in enumerate(problem.sample_ids.tolist())}
    if len(position) != target.n or any(s not in position for s in target.sample_ids.tolist()):
        raise MitigationError("the slicer's inputs and the head's features hold different sample ids")
    return scores[np.asarray([position[s] for s in target.sample_ids.tolist()], dtype=np.int64)]
