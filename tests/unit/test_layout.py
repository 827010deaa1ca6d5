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
