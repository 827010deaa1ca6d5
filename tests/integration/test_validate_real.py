"""``medstrata validate <task id>`` on a small real two-strata task (the oracle is exact on each): the card's numbers, the gate verdict and the
exit status agree, and a second call reuses the cached models (real data; 1-epoch models)."""

from __future__ import annotations

import json
import math
import time

import pytest

from medstrata.cli import main
from medstrata.validity import gates
from tests.conftest import real_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_validate_task_card_and_exit_status(tmp_path, capsys):
    real_file("pneumoniamnist")
    assert main(["build", "dataset=pneumoniamnist", "stratum=label_noise,spurious_marker", "seed=0"]) == 0
    task_id = capsys.readouterr().out.strip().splitlines()[-1]
    args = [task_id, "--seeds", "0", "1", "--no-dose", "--model", "epochs=1", "--model", "min_steps=0", "--quiet"]
    rc = main(["validate", *args, "--json", str(tmp_path / "card.json"), "--markdown", str(tmp_path / "card.md")])
    out = capsys.readouterr().out
    (card,) = json.loads((tmp_path / "card.json").read_text())
    assert card["seeds"] == [0, 1] and card["cell"].startswith("pneumoniamnist[official]/")
    got = sorted((s["column"], s["stratum_id"]) for s in card["strata_cards"])
    assert got == [("stratum_label_noise", 1), ("stratum_spurious_marker", 1), ("stratum_spurious_marker", 2)]
    for s in card["strata_cards"]:
        assert s["harm"]["n"] == 2 and len(s["gaps"]) == 2
        assert s["harm"]["low"] <= s["harm"]["mean"] <= s["harm"]["high"]
        assert 0.5 <= s["shortcut_auroc_max"] <= 1.0 and s["shortcut_statistic"]
        assert 0.0 <= s["error_share_test"] <= 1.0
        assert s["recover"]["oracle"] == 1.0 and 0.0 <= s["recover"]["random"] <= 1.0
        expected = [gates.harm_failure(s["harm"]),
                    gates.shortcut_failure(s["shortcut_auroc_max"], s["shortcut_statistic"], s["origin"])]
        for reason in filter(None, expected):
            assert f"{s['name']}: {reason}" in card["failures"]
    assert card["passes"] == (not card["failures"]) and rc == (0 if card["passes"] else 1)
    assert ("PASS" if card["passes"] else "EXCLUDED") in out and "harm, pts" in (tmp_path / "card.md").read_text()
    t0 = time.perf_counter()
    assert main(["validate", *args]) == rc  # models, tasks and control results come from the caches
    assert time.perf_counter() - t0 < 60 and not math.isnan(card["strata_cards"][0]["harm"]["mean"])


def test_validate_needs_a_task_or_a_suite(capsys):
    assert main(["validate"]) != 0
    assert "either a task id or --suite" in capsys.readouterr().err
