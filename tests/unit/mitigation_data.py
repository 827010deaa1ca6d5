"""Tiny synthetic data for the mitigation tests: a planted spurious correlate (Waterbirds-like).

Labels y in {0, 1}; a spurious attribute a equals y with probability ``rho`` (0.95 in train and val,
0.5 in test). Features (n, 6): a noisy core direction (class evidence 1.0 vs noise 1.0), a strong,
nearly noiseless spurious direction (2.0 vs 0.3) and four noise columns. Stratum 1 = the samples
whose attribute disagrees with the label (the minority groups), 0 = the rest.
"""

from __future__ import annotations

import numpy as np

from medstrata.hashing import keyed_rng
from medstrata.problem import Problem


def planted(split: str, n: int, rho: float, seed: int = 0) -> tuple[Problem, np.ndarray]:
    """(Problem, (n,) int strata) of one split; ids ``{split}-{i:05d}``, draws keyed by (seed, split)."""
    rng = keyed_rng("test.mitigation", seed, split)
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < rho, y, 1 - y)
    core = (2 * y - 1) * 1.0 + rng.normal(0, 1.0, n)
    spur = (2 * a - 1) * 2.0 + rng.normal(0, 0.3, n)
    emb = np.column_stack([core, spur, rng.normal(0, 1, (n, 4))]).astype(np.float32)
    p1 = 1 / (1 + np.exp(-(0.5 * core + 1.5 * spur)))
    probs = np.column_stack([1 - p1, p1])
    losses = -np.log(np.clip(probs[np.arange(n), y], 1e-12, None))
    ids = np.asarray([f"{split}-{i:05d}" for i in range(n)], dtype=object)
    return Problem(ids, y.astype(np.int64), probs, losses, emb), (a != y).astype(np.int64)


def planted_task(seed: int = 0, n_train: int = 2000, n_val: int = 600, n_test: int = 1000):
    """{split: (Problem, strata)} for train, val (rho 0.95) and test (rho 0.5)."""
    return {"train": planted("train", n_train, 0.95, seed), "val": planted("val", n_val, 0.95, seed),
            "test": planted("test", n_test, 0.5, seed)}


def truth_of(task: dict) -> dict[str, int]:
    """{sample id: stratum} over every split (what the oracle control reads)."""
    return {str(s): int(v) for p, st in task.values() for s, v in zip(p.sample_ids, st)}
