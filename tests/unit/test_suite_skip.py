"""Suites skip datasets marked as failing, by name and with the reason."""

from __future__ import annotations

import pytest

from medstrata.runner.app import compose, plan


def test_full_suite_skips_a_marked_dataset_and_says_why(capsys: pytest.CaptureFixture) -> None:
    base = {j["dataset"] for j in plan(compose(["suite=full", "seeds=[0]", "methods=[random]"]))}
    jobs = plan(compose(["suite=full", "seeds=[0]", "methods=[random]",
                         "+suite.skip_datasets.breastmnist='ACC below target'"]))
    assert "breastmnist" in base and {j["dataset"] for j in jobs} == base - {"breastmnist"}
    assert "skipping dataset breastmnist: ACC below target" in capsys.readouterr().err


def test_full_suite_marks_no_dataset_it_does_not_list() -> None:
    from medstrata.runner.suite import CONF_DIR
    from omegaconf import OmegaConf

    full = OmegaConf.load(CONF_DIR / "suite" / "full.yaml")
    assert set(full.skip_datasets) <= set(full.datasets)
