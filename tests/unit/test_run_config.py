import pytest

from medstrata.bench.app import compose, plan, translate
from medstrata.errors import SpecError


def test_translate_sugar():
    out, dry = translate(["suite=quick", "method=george,random", "seed=0,1", "--dry-run", "suite.model.epochs=1"])
    assert out == ["suite=quick", "methods=[george,random]", "seeds=[0,1]", "suite.model.epochs=1"] and dry


def test_quick_suite_plan():
    jobs = plan(compose(["suite=quick"]))
    assert len(jobs) == 21 and {j["seed"] for j in jobs} == {0, 1, 2}
    kinds = {(j["dataset"], j["kind"]) for j in jobs}
    assert ("bloodmnist", "rare_subclass") in kinds and ("pneumoniamnist", "rare_subclass") not in kinds
    assert len(jobs[0]["methods"]) >= 10


def test_full_suite_has_severities_and_skips_impossible_kinds():
    jobs = plan(compose(["suite=full", "seeds=[0]"]))
    blood_rare = [j for j in jobs if j["dataset"] == "bloodmnist" and j["kind"] == "rare_subclass"]
    assert len(blood_rare) == 4 and {j["params"]["p"] for j in blood_rare} == {0.2, 0.1, 0.05, 0.02}
    assert not [j for j in jobs if j["dataset"] == "pneumoniamnist" and j["kind"] == "rare_subclass"]


def test_filters_and_errors():
    jobs = plan(compose(["suite=quick", "datasets=[pneumoniamnist]", "methods=[random]"]))
    assert len(jobs) == 9 and all(j["methods"] == [{"name": "random", "params": {}}] for j in jobs)
    with pytest.raises(SpecError, match="registered"):
        plan(compose(["suite=quick", "methods=[nope]"]))
    with pytest.raises(SpecError, match="bad run override"):
        compose(["suite=nope"])
