from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_asset_folders_are_not_python_packages():
    for name in ("benchmark", "datasets", "baselines", "leaderboard"):
        folder = ROOT / name
        assert folder.is_dir(), f"{name}/ is missing"
        assert not (folder / "__init__.py").exists(), f"{name}/__init__.py would shadow a real package"
        assert not list(folder.rglob("*.py")), f"{name}/ must hold no Python"


def test_huggingface_datasets_is_not_shadowed():
    import datasets

    assert hasattr(datasets, "load_dataset"), datasets.__file__


def test_library_code_never_switches_the_matplotlib_backend():
    """``matplotlib.use`` changes global state of the host program (a notebook, another app);
    the report draws on ``matplotlib.figure.Figure`` directly."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "medstrata"
    offenders = [str(p) for p in src.rglob("*.py") if "matplotlib.use(" in p.read_text() or "import matplotlib.pyplot" in p.read_text()]
    assert offenders == []


def test_no_dead_config_groups():
    """Every YAML file under conf/ is read: the top config and the suites (stratum declarations live
    on the injector classes, method parameters on the method constructors), the engines' worker app
    and the SLURM launcher of ``engine=slurm`` (composed in ``test_cells``)."""
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "src" / "medstrata" / "conf"
    files = sorted(str(p.relative_to(conf)) for p in conf.rglob("*.yaml"))
    assert files == ["config.yaml", "hydra/launcher/medstrata_slurm.yaml", "suite/full.yaml",
                     "suite/mitigation_kinds.yaml", "suite/quick.yaml", "suite/smoke.yaml", "worker.yaml"]
