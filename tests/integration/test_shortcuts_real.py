"""No trivial shortcut: at its default severity, no global image statistic separates the members of a
constructed stratum from the rest of their class (within-class AUROC <= 0.75, val and test).

Constructed strata: spurious_marker (tags), subtle_feature (detail swap), label_noise on a binary
source (texture-cluster group). A natural official subclass (label_noise on bloodmnist) is reported
by the validity card, not gated. The last test shows the gate can fail: without distractors the
tags are given away.
"""

from functools import lru_cache

import numpy as np
import pytest

from medstrata.data.source import load_source
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import resolve_spec
from medstrata.validity.shortcuts import shortcut_auroc
from tests.conftest import real_file

pytestmark = pytest.mark.realdata

GATE = 0.75
CASES = [("bloodmnist", "spurious_marker"), ("pneumoniamnist", "spurious_marker"),
         ("bloodmnist", "subtle_feature"), ("pneumoniamnist", "subtle_feature"),
         ("pneumoniamnist", "label_noise")]


@lru_cache(maxsize=None)
def _task(flag, kind, **params):
    real_file(flag)
    spec = resolve_spec(flag, 28, 0, None, [(kind, dict(params))])
    return build_task(spec, load_source(flag))


def _best(task, kind, split):
    m = task.manifest.to_pandas()
    sel = (m.split == split).to_numpy()
    s, y = m[f"stratum_{kind}"].to_numpy()[sel], m.clean_label.to_numpy()[sel]
    worst = 0.0
    for k in sorted(set(s[s > 0].tolist())):
        cls = int(np.bincount(y[s == k]).argmax())
        out = shortcut_auroc(task.images[sel][y == cls], np.zeros(int((y == cls).sum()), int), s[y == cls] == k)
        assert out["n_checked_classes"] == 1
        worst = max(worst, out["best_auroc"])
    return worst


@pytest.mark.parametrize("flag, kind", CASES)
@pytest.mark.parametrize("split", ["val", "test"])
def test_constructed_stratum_has_no_global_statistic_shortcut(flag, kind, split):
    best = _best(_task(flag, kind), kind, split)
    assert best <= GATE, f"{flag} {kind} {split}: a global statistic reaches AUROC {best:.3f}"


def test_gate_catches_tags_without_distractors():
    best = _best(_task("bloodmnist", "spurious_marker", distractors=False), "spurious_marker", "test")
    assert best > GATE


def _quick_constructed_cells():
    """(dataset, target, kind, params) of every constructed stratum of ``suite=quick``, from the suite file."""
    from medstrata.runner.app import compose
    from medstrata.runner.suite import task_cells
    from medstrata.validity.gates import CONSTRUCTED, origin

    out = []
    for cell in task_cells(compose(["suite=quick"])):
        strata = cell.all_strata()
        for kind, params in strata:
            if origin(kind, params) == CONSTRUCTED:
                out.append((cell.dataset, cell.target, tuple(strata), kind))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("flag, target, strata, kind", _quick_constructed_cells())
def test_quick_suite_settings_have_no_global_statistic_shortcut(flag, target, strata, kind):
    """The suite's own (non-default) settings pass the shortcut gate too, on val of seed 0."""
    real_file(flag)
    spec = resolve_spec(flag, 28, 0, target, [(k, dict(p)) for k, p in strata])
    best = _best(build_task(spec, load_source(flag)), kind, "val")
    assert best <= GATE, f"quick {flag} {kind}: a global statistic reaches AUROC {best:.3f}"
