"""Load the authors' reference implementations for the fidelity comparison (not part of MedStrata).

domino's slicers are imported from an installation made *outside* the project's environment::

    pip install --no-deps --target /work/fid8/site domino==0.1.5          # DominoSlicer, SpotlightSlicer
    git show <domino HEAD>:domino/_slice/multiaccuracy.py > DIR/multiaccuracy.py  # not in 0.1.5

``domino/__init__`` imports meerkat and CLIP at top level, so the three slicer modules are loaded
directly from their files, with small compatibility shims *here* (never in ``src/``):

* a stand-in ``meerkat`` module (the slicers only use it in type hints and ``unpack_args``);
* ``numpy.infty`` (removed in NumPy 2);
* scikit-learn >= 1.6 removed ``sklearn.mixture._base._check_X``, ``BaseEstimator._check_n_features``
  and renamed ``GaussianMixture._check_initial_parameters`` to ``_check_parameters``;
  ``BaseMixture._print_verbose_msg_init_end`` gained a required argument (a logging helper).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np


def _install_shims() -> None:
    if not hasattr(np, "infty"):
        np.infty = np.inf  # NumPy 2 removed the alias domino uses
    mk = types.ModuleType("meerkat")

    class _Anything:  # only used in annotations / isinstance checks that must fail
        pass

    mk.DataPanel = mk.DataFrame = mk.Column = mk.TensorColumn = _Anything
    sys.modules.setdefault("meerkat", mk)
    for sub in ("columns", "columns.tensor_column", "columns.tensor", "columns.tensor.torch"):
        mod = types.ModuleType(f"meerkat.{sub}")
        mod.__path__ = []
        mod.TensorColumn = mod.TorchTensorColumn = _Anything
        sys.modules.setdefault(f"meerkat.{sub}", mod)
    utils = types.ModuleType("domino.utils")

    def unpack_args(data, *args):
        return [data[a] if isinstance(a, str) else a for a in args]

    def convert_to_numpy(*args):
        return [np.asarray(a) for a in args]

    utils.unpack_args, utils.convert_to_numpy = unpack_args, convert_to_numpy
    utils.VariableColumn = utils.requires_columns = None
    pkg = types.ModuleType("domino")
    pkg.__path__ = []
    sys.modules.setdefault("domino", pkg)
    sys.modules["domino.utils"] = utils
    _sklearn_shims()


def _sklearn_shims() -> None:
    import sklearn.mixture._base as base
    from sklearn.mixture import GaussianMixture
    from sklearn.utils import check_array

    if not hasattr(base, "_check_X"):
        def _check_X(X, n_components=None, n_features=None, ensure_min_samples=1):
            X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=ensure_min_samples)
            if n_components is not None and X.shape[0] < n_components:
                raise ValueError(f"Expected n_samples >= n_components, got {X.shape[0]}")
            if n_features is not None and X.shape[1] != n_features:
                raise ValueError("wrong number of features")
            return X
        base._check_X = _check_X
    if not hasattr(GaussianMixture, "_check_n_features"):
        def _check_n_features(self, X, reset):
            self.n_features_in_ = X.shape[1]
        GaussianMixture._check_n_features = _check_n_features
    original = base.BaseMixture._print_verbose_msg_init_end
    if "init_has_converged" in original.__code__.co_varnames and not hasattr(original, "_shim"):
        def _end(self, lb, init_has_converged=True):
            return original(self, lb, init_has_converged)
        _end._shim = True
        base.BaseMixture._print_verbose_msg_init_end = _end
    if not hasattr(GaussianMixture, "_check_initial_parameters"):
        GaussianMixture._check_initial_parameters = lambda self, X: self._check_parameters(X)


def _load(name: str, path: Path) -> types.ModuleType:
    """Import ``path`` as module ``domino._slice.<name>`` (relative imports resolve to our stubs)."""
    _install_shims()
    slice_pkg = sys.modules.get("domino._slice")
    if slice_pkg is None:
        slice_pkg = types.ModuleType("domino._slice")
        slice_pkg.__path__ = [str(path.parent)]
        sys.modules["domino._slice"] = slice_pkg
    abstract = path.parent / "abstract.py"
    if "domino._slice.abstract" not in sys.modules and abstract.is_file():
        _exec("domino._slice.abstract", abstract)
    return _exec(f"domino._slice.{name}", path)


def _exec(qualname: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(qualname, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualname] = module
    spec.loader.exec_module(module)
    return module


def domino_slicer(site: Path):
    """``DominoSlicer`` class from domino 0.1.5 installed under ``site``."""
    return _load("domino", Path(site) / "domino" / "_slice" / "domino.py").DominoSlicer


def spotlight_slicer(site: Path):
    """``SpotlightSlicer`` class from domino 0.1.5 installed under ``site``."""
    return _load("spotlight", Path(site) / "domino" / "_slice" / "spotlight.py").SpotlightSlicer


def multiaccuracy_slicer(path: Path, site: Path):
    """``MultiaccuracySlicer`` from domino's repository file ``path`` (not released on PyPI);
    ``site`` provides ``abstract.py``."""
    _load("abstract", Path(site) / "domino" / "_slice" / "abstract.py")
    return _exec("domino._slice.multiaccuracy", Path(path)).MultiaccuracySlicer
