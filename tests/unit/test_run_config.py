import pytest

from medstrata.runner.app import compose, plan, translate
from medstrata.errors import SpecError


def test_translate_sugar():
    out, dry = translate(["suite=quick", "method=george,random", "seed=0,1", "--dry-run", "suite.model.epochs=1"])
    assert out == ["suite=quick", "methods=[george,random]", "seeds=[0,1]", "++suite.model.epochs=1"] and dry


def test_quick_suite_plan():
    jobs = plan(compose(["suite=quick"]))
    assert len(jobs) == 12 and {j["seed"] for j in jobs} == {0, 1, 2}
    strata = {(j["dataset"], j["target"], tuple(k for k, _ in j["strata"])) for j in jobs}
    assert ("bloodmnist", None, ("rare_subclass", "subtle_feature")) in strata
    assert ("bloodmnist", "official", ("subtle_feature",)) in strata
    assert any(d == "organamnist" and t == "official" for d, t, _ in strata)
    assert any(d.endswith("3d") for d, _, _ in strata)
    three_d = next(j for j in jobs if j["dataset"] == "adrenalmnist3d")
    assert three_d["model"] == {"width": 8, "batch_size": 32, "lr": 0.001, "select": "last"}
    assert dict(three_d["strata"])["subtle_feature"]["train_fraction"] == 0.05
    assert len(jobs[0]["methods"]) >= 10


def test_suite_tasks_with_strata_and_target():
    from medstrata.runner.suite import _listed_cell

    cell = _listed_cell({"dataset": "bloodmnist", "target": "official",
                         "strata": [{"kind": "label_noise", "params": {"r": 0.2}}, {"kind": "spurious_marker"}]})
    assert cell.all_strata() == [("label_noise", {"r": 0.2}), ("spurious_marker", {})] and cell.target == "official"
    assert _listed_cell({"dataset": "pneumoniamnist", "kind": "label_noise"}).all_strata() == [("label_noise", {})]
    assert _listed_cell({"dataset": "organamnist", "kind": "subtle_feature", "model": {"epochs": 4}}).model == {"epochs": 4}
    for bad in ({"dataset": "x"}, {"dataset": "x", "kind": "a", "strata": []}, {"dataset": "x", "kind": "a", "oops": 1}):
        with pytest.raises(SpecError, match="exactly one of kind/strata"):
            _listed_cell(bad)
    jobs = plan(compose(["suite=quick", "kinds=[rare_subclass]", "methods=[random]"]))
    assert {tuple(k for k, _ in j["strata"]) for j in jobs} == {("rare_subclass", "subtle_feature")}


def test_full_suite_has_severities_and_skips_impossible_kinds():
    jobs = plan(compose(["suite=full", "seeds=[0]"]))
    blood_rare = [j for j in jobs if j["dataset"] == "bloodmnist" and j["kind"] == "rare_subclass"]
    assert len(blood_rare) == 4 and {j["params"]["p"] for j in blood_rare} == {0.2, 0.1, 0.05, 0.02}
    assert not [j for j in jobs if j["dataset"] == "pneumoniamnist" and j["kind"] == "rare_subclass"]


def test_filters_and_errors():
    jobs = plan(compose(["suite=quick", "datasets=[organamnist]", "methods=[random]"]))
    assert len(jobs) == 3 and all(j["methods"] == [{"name": "random", "params": {}}] for j in jobs)
    with pytest.raises(SpecError, match="registered"):
        plan(compose(["suite=quick", "methods=[nope]"]))
    with pytest.raises(SpecError, match="bad run override"):
        compose(["suite=nope"])


def test_method_params_from_the_command_line():
    out, _ = translate(["suite=smoke", "method=kmeans,random", "method_params.kmeans.n_clusters=3"])
    assert "++method_params.kmeans.n_clusters=3" in out
    jobs = plan(compose(out))
    assert jobs[0]["methods"] == [{"name": "kmeans", "params": {"n_clusters": 3}},
                                  {"name": "random", "params": {}}]


@pytest.mark.parametrize("override, message", [
    ("method_params.kmeans.n_clusterz=3", r"unknown parameter\(s\) \['n_clusterz'\] for method 'kmeans'"),
    ("method_params.george.max_clusters=3", "'george' is not a method of this run"),
    ("method_params.kmeans.random_state=3", "random_state is the run's seed"),
    ("method_params.kmeans.n_slices=50", "n_slices is the suite.s slice budget"),
])
def test_bad_method_params_are_rejected_by_the_plan(override, message):
    with pytest.raises(SpecError, match=message):
        plan(compose(translate(["suite=smoke", "method=kmeans,random", override])[0]))


def test_cli_rejects_an_unknown_parameter_before_building_anything(tmp_path, capsys, monkeypatch):
    """Through the real CLI entry point: non-zero exit, a clear message, and nothing was built or
    trained (the home folder has no task, model or run)."""
    from medstrata.cli import main

    monkeypatch.setenv("MEDSTRATA_HOME", str(tmp_path / "home"))
    code = main(["run", "suite=smoke", "method=kmeans", "method_params.kmeans.nope=1"])
    assert code != 0
    assert "unknown parameter(s) ['nope'] for method 'kmeans'" in capsys.readouterr().err
    home = tmp_path / "home"
    assert not any((home / d).exists() and any((home / d).iterdir()) for d in ("tasks", "cache", "runs"))
