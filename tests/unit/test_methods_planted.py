"""Planted-strata testbeds: every discovery method must find an easy stratum and beat random on a
medium one (after domino's ``make_blobs`` tests). Inputs come from
``medstrata.methods.synthetic.make_planted`` (Beta-sampled predictions, a distinct embedding
cluster); methods are fitted on the val split and scored on the test split.

How recovery is measured here (fair to clustering and to ranking methods alike):

* the candidates are every predicted slice column *and its complement* (1 - score), as in dcbench;
* **ARI** of a candidate: take the top-|S| test samples by score (|S| = true stratum size; samples
  tied with the |S|-th score are all included, so a cluster bigger than S cannot look exact) as the
  predicted member set, and compute the adjusted Rand index of that binary partition against the
  true membership over the whole test split. The method's ARI is the best over candidates.
  A one-hot cluster equal to S and a ranking that puts S strictly first both score 1.
* **AP** of a candidate: average precision of its scores against membership; best over candidates.
* **P@k** of the best-AP candidate: fraction of stratum members among its k top-scored samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, average_precision_score
from threadpoolctl import threadpool_limits

from medstrata.methods import get_method_class, list_methods, run_method
from medstrata.methods.synthetic import make_planted

#: Non-default settings that change a method's algorithm, tested like methods of their own.
VARIANTS = {"george+overcluster": ("george", {"overcluster": True, "size_threshold_abs": 5})}
CANDIDATES = [m for m in list_methods() if not get_method_class(m).is_control] + sorted(VARIANTS)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny problems on a shared 2-core machine: BLAS/OpenMP threads only add contention."""
    with threadpool_limits(limits=1):
        yield


N = 150


def _candidates(scores):
    return [scores[:, j] for j in range(scores.shape[1])] + [1 - scores[:, j]
                                                             for j in range(scores.shape[1])]


def _top_set(col, k):
    return col >= np.sort(col)[-k]


def best_ari(scores, member):
    return max(adjusted_rand_score(member, _top_set(c, int(member.sum()))) for c in _candidates(scores))


def best_ap(scores, member):
    return max(average_precision_score(member, c) for c in _candidates(scores))


def p_at_k(scores, member, k):
    best = max(_candidates(scores), key=lambda c: average_precision_score(member, c))
    return member[np.argsort(-best, kind="stable")[:k]].mean()


def _run(name, difficulty, seed, n=N):
    val = make_planted(n, difficulty=difficulty, seed=seed, split="val")
    test = make_planted(n, difficulty=difficulty, seed=seed, split="test")
    name, params = VARIANTS.get(name, (name, {}))
    params = dict(params)
    if get_method_class(name).is_oracle:
        params["truth"] = {**val.truth, **test.truth}
    return run_method(name, params, val.problem, test.problem), test.strata == 1


# ---------------------------------------------------------------------- the measures themselves
def test_measures_reward_exact_recovery_only():
    member = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    exact = member[:, None].astype(float)
    assert best_ari(exact, member) == 1.0 and best_ap(exact, member) == 1.0
    assert best_ari(1 - exact, member) == 1.0  # complements count
    superset = np.array([[1, 1, 1, 0, 0, 0]], dtype=float).T  # tie at the cut: all included
    assert best_ari(superset, member) < 1.0
    ranking = np.array([[0.9, 0.8, 0.7, 0.1, 0.2, 0.3]]).T
    assert best_ari(ranking, member) == 1.0
    assert best_ari(np.array([[0.9, 0.1, 0.8, 0.2, 0.3, 0.4]]).T, member) < 1.0
    assert p_at_k(ranking, member, 2) == 1.0 and p_at_k(ranking, member, 3) == pytest.approx(2 / 3)


def test_easy_testbed_is_what_it_claims():
    p = make_planted(N, difficulty="easy", seed=0, split="test")
    hit = p.strata == 1
    assert hit.sum() == 10 and set(p.problem.labels[hit]) == {1}
    assert not p.problem.correct[hit].any() and p.problem.correct[~hit].all()
    assert p.truth[p.problem.sample_ids[0]] == p.strata[0]


# ------------------------------------------------------------------------------------ testbeds
@pytest.mark.slow  # fits every method on planted data (UMAP JIT)
@pytest.mark.parametrize("name", CANDIDATES)
def test_easy_planted_stratum_is_found_exactly(name):
    for seed in (0, 1):
        scores, member = _run(name, "easy", seed)
        assert best_ari(scores, member) == 1.0, f"{name} seed {seed}: ARI {best_ari(scores, member)}"


@pytest.mark.slow  # fits every method on planted data (UMAP JIT)
@pytest.mark.parametrize("name", CANDIDATES)
def test_medium_planted_stratum_beats_random(name):
    margins = []
    for seed in (0, 1, 2):
        scores, member = _run(name, "medium", seed)
        rand, _ = _run("random", "medium", seed)
        margins.append(best_ap(scores, member) - best_ap(rand, member))
    assert min(margins) > 0.0, f"{name} lost to random on some key: {margins}"
    assert np.mean(margins) >= 0.15, f"{name} beat random by too little: {margins}"


@pytest.mark.parametrize("difficulty", ["easy", "medium"])
def test_oracle_has_precision_at_10_of_one(difficulty):
    scores, member = _run("oracle", difficulty, 0)
    assert p_at_k(scores, member, 10) == 1.0 and best_ari(scores, member) == 1.0


def test_random_precision_matches_prevalence():
    precisions, prevalences = [], []
    for seed in range(5):
        scores, member = _run("random", "medium", seed, n=300)
        prevalences.append(member.mean())
        for col in scores.T:
            precisions.append(member[np.argsort(-col, kind="stable")[:50]].mean())
    assert abs(np.mean(precisions) - np.mean(prevalences)) < 0.03
