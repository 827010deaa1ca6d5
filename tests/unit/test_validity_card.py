"""Validity card and gates on synthetic data: planted harmful, harmless and watermarked strata."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medstrata.validity import gates, render
from medstrata.validity.card import assemble, measure_arrays
from medstrata.validity.harm import error_share, stratum_gaps, t_interval


def test_gap_and_error_share_worked_example():
    labels = np.array([0] * 10 + [1] * 10)
    strata = np.array([0] * 8 + [1] * 2 + [0] * 10)
    preds = labels.copy()
    preds[[0, 1]] = 1  # 2 errors among the 8 class-0 non-members (acc 0.75)
    preds[[8, 9]] = 1  # both members wrong
    g = stratum_gaps(labels, preds, strata)[1]
    assert g["gap"] == pytest.approx(0.75) and g["acc_member"] == 0 and g["acc_rest"] == pytest.approx(0.75)
    assert g["classes"] == [0] and g["n_member"] == 2 and g["n_rest"] == 8
    assert error_share(labels, preds, strata) == {1: pytest.approx(0.5)}


def test_gap_weights_classes_by_members_and_skips_classes_without_rest():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    strata = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 1])  # class 2 has no non-member
    preds = np.array([0, 0, 9, 0, 1, 1, 1, 9, 9, 9])
    g = stratum_gaps(labels, preds, strata)[1]
    # class 0: 1 - 0.5 (2 members), class 1: 1 - 0 (1 member) -> (2*0.5 + 1*1) / 3
    assert g["gap"] == pytest.approx(2 / 3) and g["classes"] == [0, 1]


def test_t_interval_matches_student_t():
    r = t_interval([0.1, 0.2, 0.3])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert r["mean"] == pytest.approx(0.2) and r["low"] == pytest.approx(0.2 - half)
    assert r["high"] == pytest.approx(0.2 + half) and r["n"] == 3
    one = t_interval([0.4, float("nan")])
    assert one["n"] == 1 and math.isnan(one["low"])


def _seed(seed: int, member_acc: float, watermark: bool, n: int = 500) -> tuple:
    """Val/test arrays of one synthetic seed: class 1 holds a stratum of 25 % of its samples."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    strata = ((labels == 1) & (rng.random(n) < 0.25)).astype(np.int64)
    images = rng.integers(40, 200, size=(n, 28, 28)).astype(np.uint8)
    if watermark:
        images[strata == 1, :4, :4] = 255
    right = np.where(strata == 1, rng.random(n) < member_acc, rng.random(n) < 0.95)
    preds = np.where(right, labels, 1 - labels)
    return (labels, preds, {"stratum_x": strata}, images), (labels, preds, {"stratum_x": strata})


def _card(kind: str, member_acc: float, watermark: bool) -> dict:
    per_seed = {}
    for seed in (100, 101, 102):
        val, test = _seed(seed, member_acc, watermark)
        per_seed[seed] = measure_arrays(val, test, {"stratum_x": (kind, {})}, {"stratum_x": {"1": "planted"}},
                                        probe=False)
    return assemble({"dataset": "synthetic", "target": None, "strata": [[kind, {}]]}, per_seed)


def test_planted_harmful_stratum_passes_both_gates():
    card = _card("subtle_feature", member_acc=0.4, watermark=False)
    s = card["strata_cards"][0]
    assert s["harm"]["mean"] > 0.4 and s["harm"]["low"] > 0
    assert s["shortcut_auroc_max"] <= gates.SHORTCUT_MAX
    assert card["passes"], card["failures"]


def test_planted_watermark_fails_the_shortcut_gate():
    card = _card("spurious_marker", member_acc=0.4, watermark=True)
    s = card["strata_cards"][0]
    assert s["shortcut_auroc_max"] == pytest.approx(1.0)
    assert not card["passes"] and any("shortcut" in f for f in card["failures"])
    assert not any("harm" in f for f in card["failures"])


def test_watermark_on_a_natural_subclass_is_reported_not_gated():
    card = _card("rare_subclass", member_acc=0.4, watermark=True)
    assert card["strata_cards"][0]["origin"] == gates.NATURAL
    assert card["strata_cards"][0]["shortcut_auroc_max"] == pytest.approx(1.0)
    assert card["passes"]


def test_harmless_stratum_fails_the_harm_gate_loudly():
    card = _card("subtle_feature", member_acc=0.95, watermark=False)
    assert abs(card["strata_cards"][0]["harm"]["mean"]) < 0.1
    assert not card["passes"] and card["failures"][0].startswith("planted: harm")
    page = render.markdown([card], "t")
    assert "EXCLUDED synthetic/subtle_feature" in page and "0 of 1 tasks pass" in page


def test_harm_gate_needs_a_positive_lower_bound():
    assert gates.harm_failure(t_interval([0.30, 0.25, 0.28])) is None
    assert "lower bound" in gates.harm_failure(t_interval([0.40, 0.02, 0.30]))
    assert "< 10 pts" in gates.harm_failure(t_interval([0.05, 0.06, 0.07]))


def test_origin_and_dose_monotone():
    assert gates.origin("label_noise", {"group": "subclass"}) == gates.NATURAL
    assert gates.origin("label_noise", {"group": "random"}) == gates.CONSTRUCTED
    assert gates.origin("spurious_marker", {}) == gates.CONSTRUCTED
    assert gates.dose_monotone([0.01, 0.05, 0.04, 0.2])["monotone"]
    bad = gates.dose_monotone([0.2, 0.1, 0.05, 0.3])
    assert not bad["monotone"] and bad["spearman"] < 1


def _fake_card(rho: float, gap: float, passes: bool = True) -> dict:
    harm = t_interval([gap - 0.01, gap, gap + 0.01])
    s = {"column": "stratum_spurious_marker", "stratum_id": 1, "name": "m", "kind": "spurious_marker",
         "params": {"rho": rho}, "origin": gates.CONSTRUCTED, "harm": harm, "acc_member": 0.5, "acc_rest": 0.9,
         "shortcut_auroc_max": 0.6, "shortcut_statistic": "grey.mean", "pca_auroc_mean": 0.6,
         "error_share_test": 0.2, "recover": {}, "dose": None}
    return {"cell": f"d/spurious_marker rho={rho}", "dataset": "d", "target": None,
            "strata": [["spurious_marker", {"rho": rho}]], "seeds": [0, 1, 2], "strata_cards": [s],
            "failures": [] if passes else ["m: harm 1.0 pts < 10 pts"], "passes": passes}


def test_run_dose_response_across_severity_cells_and_loud_exclusion(tmp_path, capsys):
    import json

    from medstrata.validity import run as V

    cards = {str(r): _fake_card(r, g, passes=r != 0.5) for r, g in ((0.99, 0.4), (0.5, 0.01), (0.9, 0.3), (0.7, 0.1))}
    V.attach_dose(cards)
    dose = cards["0.9"]["strata_cards"][0]["dose"]
    assert dose["knob"] == "rho" and dose["severities"] == [0.5, 0.7, 0.9, 0.99]
    assert dose["gaps"] == pytest.approx([0.01, 0.1, 0.3, 0.4]) and dose["monotone"]
    assert V.announce(cards, "exclude") == {"0.5"} and "EXCLUDED from this run" in capsys.readouterr().out
    assert V.announce(cards, "report") == set()
    with pytest.raises(Exception, match="gates"):
        V.announce(cards, "maybe")
    V.write(tmp_path, cards, "s", "exclude", {"0.5"})
    assert json.loads((tmp_path / "validity.json").read_text())["excluded"] == ["d/spurious_marker rho=0.5"]
    assert "- EXCLUDED d/spurious_marker rho=0.5: m: harm" in (tmp_path / "validity.md").read_text()
