"""Two strata in one task, given in either order, keep each stratum's promise (official bloodmnist).

Strata are applied in one canonical order (``medstrata.strata.canonical_order``), so ``a,b`` and
``b,a`` are the same spec and task id. For all 4 x 3 ordered pairs this checks, on real data:
rare_subclass prevalence, label-noise rate inside the group only, marker phi against the training
labels, subtle-feature membership and donors, and that every image equals the source with each
pixel-changing stratum re-applied from its recorded parameters in the canonical order (so no later
stratum faded a tag, and a subtle member keeps its exact histogram).
"""

from functools import lru_cache

import numpy as np
import pytest

from medstrata.data.source import load_source
from medstrata.strata import canonical_order, get_injector
from medstrata.strata.markers import tag_mask
from medstrata.tasks.build import build_task, initial_state
from medstrata.tasks.spec import resolve_spec
from tests.conftest import real_file

pytestmark = pytest.mark.realdata

FLAG = "bloodmnist"
KINDS = ("rare_subclass", "label_noise", "subtle_feature", "spurious_marker")
PAIRS = [(a, b) for a in KINDS for b in KINDS if a != b]


@lru_cache(maxsize=None)
def _source():
    real_file(FLAG)
    return load_source(FLAG)


@lru_cache(maxsize=None)
def _built(kinds: tuple[str, ...]):
    spec = resolve_spec(FLAG, 28, 0, None, [(k, {}) for k in kinds])
    task = build_task(spec, _source())
    return spec, task, task.manifest.to_pandas()


def _params(spec, kind):
    return dict(spec.strata)[kind]


def _rare_subclass(spec, task, m, src):
    p = _params(spec, "rare_subclass")
    sup = spec.target["mapping"][p["subclass"]]
    for split in ("train", "val"):
        s = m[(m.split == split) & (m.clean_label == sup)]
        assert abs(int((s.source_label == p["subclass"]).sum()) - p["p"] * len(s)) <= 1, split
    assert int((m.split == "test").sum()) == len(src.labels["test"])


def _label_noise(spec, task, m, src):
    r = _params(spec, "label_noise")["r"]
    flipped = (m.label != m.clean_label).to_numpy()
    for split in ("train", "val"):
        sel = (m.split == split).to_numpy()
        members = sel & (m.stratum_label_noise == 1).to_numpy()
        assert abs(flipped[members].sum() - r * members.sum()) <= 0.5 + 1e-9, split
        assert not flipped[sel & ~members].any()
    assert not flipped[(m.split == "test").to_numpy()].any()


def _spurious_marker(spec, task, m, src):
    p = _params(spec, "spurious_marker")
    marker = m.params_spurious_marker.str.contains('"marker":1').to_numpy()
    y = (m.label == p["positive_class"]).to_numpy()
    for split in ("train", "val"):
        sel = (m.split == split).to_numpy()
        assert abs(np.corrcoef(marker[sel], y[sel])[0, 1] - p["rho"]) < 0.02, split
    sel = (m.split == "test").to_numpy()
    assert abs(np.corrcoef(marker[sel], y[sel])[0, 1]) < 0.02
    glyphs = m.params_spurious_marker.str.extract(r'"glyph":"(\w)"')[0].to_numpy()
    assert (glyphs[marker] == p["tag"]).all() and (glyphs[~marker] == p["distractor"]).all()


def _subtle_feature(spec, task, m, src):
    p = _params(spec, "subtle_feature")
    ids = dict(zip(m.sample_id, zip(m.split, m.clean_label)))
    for split in ("train", "val", "test"):
        cls = m[(m.split == split) & (m.clean_label == p["cls"])]
        share = float((cls.stratum_subtle_feature == 1).mean())
        assert abs(share - p["fraction"]) < 0.04, (split, share)
    members = m[m.stratum_subtle_feature == 1]
    donors = members.params_subtle_feature.str.extract(r'"donor":"([^"]+)"')[0]
    for (split, label), donor in zip(zip(members.split, members.clean_label), donors):
        assert donor in ids and ids[donor][0] == split and ids[donor][1] != label


PROMISES = {"rare_subclass": _rare_subclass, "label_noise": _label_noise,
            "spurious_marker": _spurious_marker, "subtle_feature": _subtle_feature}


def _reapply(spec, task, m, src, n_rows=400):
    """Rebuild ``n_rows`` images from the source and the recorded parameters; they must match."""
    state = initial_state(spec, src)
    rows = np.unique(np.concatenate([np.flatnonzero((m[f"stratum_{k}"] > 0).to_numpy())[:n_rows // 2]
                                     for k, _ in spec.strata] + [np.arange(n_rows // 2)]))
    orig = np.stack([src.images[s][i] for s, i in zip(m.source_split.iloc[rows], m.source_index.iloc[rows])])
    images = orig.copy()
    for kind, _ in spec.strata:
        col = m[f"params_{kind}"].iloc[rows].map(__import__("json").loads).tolist()
        hit = [j for j, p in enumerate(col) if "donor" in p or "glyph" in p]
        if not hit:
            continue
        before = images[hit].copy()
        images[hit] = get_injector(kind).apply_batch(before, [col[j] for j in hit], state)
        for j, b, a in zip(hit, before, images[hit]):
            if "donor" in col[j]:  # exact histogram, per channel
                assert np.array_equal(np.sort(a.reshape(-1, 3), axis=0), np.sort(b.reshape(-1, 3), axis=0))
            else:  # a tag changes nothing outside its mask
                mask = tag_mask(a.shape[:2], col[j]["glyph"], col[j]["height"], col[j]["row"], col[j]["col"])
                assert np.array_equal(a[~mask], b[~mask])
    assert np.array_equal(task.images[rows], images)


@pytest.mark.parametrize("first, second", PAIRS)
def test_pair_in_any_order_keeps_each_promise(first, second):
    src = _source()
    ab = resolve_spec(FLAG, 28, 0, None, [(first, {}), (second, {})])
    ba = resolve_spec(FLAG, 28, 0, None, [(second, {}), (first, {})])
    assert ab == ba and ab.task_id(src.sha256) == ba.task_id(src.sha256)
    assert [k for k, _ in ab.strata] == canonical_order([first, second])
    spec, task, m = _built(tuple(k for k, _ in ab.strata))
    assert spec == ab
    for kind in (first, second):
        PROMISES[kind](spec, task, m, src)
    _reapply(spec, task, m, src)


def test_single_stratum_promise_checks_can_fail():
    """The checks above are not vacuous: a build in the wrong order breaks them."""
    from dataclasses import replace

    spec, _, _ = _built(("label_noise", "spurious_marker"))
    wrong = replace(spec, strata=tuple(reversed(spec.strata)))
    state = initial_state(wrong, _source())
    a = get_injector("spurious_marker").assign(dict(wrong.strata)["spurious_marker"], state)
    noisy = get_injector("label_noise").assign(dict(wrong.strata)["label_noise"], state).label
    marker = np.array([a.sample_params.get(i, {}).get("marker", 0) for i in range(len(noisy))])
    train = state.split == "train"
    phi = np.corrcoef(marker[train], (noisy == 1)[train])[0, 1]
    assert phi < 0.88  # marker set against clean labels, then labels flipped: phi is off
