"""Discovery methods: the protocol, the registry, the built-in baselines and :func:`run_method`.

Importing this package registers every built-in (one module each). Outside packages add methods
through the ``medstrata.methods`` entry-point group (see :mod:`medstrata.methods.registry` and
``docs/methods.md``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from medstrata.methods.base import MethodError, SliceDiscoveryMethod
from medstrata.methods.registry import (
    ENTRY_POINT_GROUP,
    PluginLoadError,
    PluginWarning,
    UnknownMethodError,
    broken_plugins,
    check_params,
    get_method,
    get_method_class,
    list_methods,
    method_info,
    method_package,
    register_method,
    reload_plugins,
)
from medstrata.problem import Problem

# Built-ins: importing each module registers it (order does not matter).
from medstrata.methods import (  # noqa: E402,F401  isort: skip
    confusion, domino_mixture, error_set, error_set_ref, failure_directions, george, kmeans,
    loss_rank, multiaccuracy, oracle, random, spotlight,
)

__all__ = [
    "ENTRY_POINT_GROUP", "MethodError", "PluginLoadError", "PluginWarning", "SliceDiscoveryMethod",
    "UnknownMethodError", "broken_plugins", "check_params", "get_method", "get_method_class",
    "list_methods", "method_info", "method_package", "register_method", "reload_plugins",
    "run_method",
]


def run_method(name: str, params: Mapping[str, Any], val: Problem, test: Problem) -> np.ndarray:
    """Fit method ``name`` with ``params`` on ``val`` and score ``test`` (dcbench's protocol).

    Args:
        name: registry name (see :func:`list_methods`).
        params: constructor keyword arguments (e.g. ``{"n_slices": 5, "random_state": 0}``).
        val: the Problem to fit on.
        test: the Problem to score.

    Returns:
        (n_test, n_slices) float64 in [0, 1], rows in the order of ``test.sample_ids``.
    """
    method = get_method(name, **dict(params))
    fitted = method.fit(val)
    if fitted is not method:
        raise MethodError(f"method {name!r}: fit() must return self")
    scores = np.asarray(fitted.predict_proba(test), dtype=np.float64)
    expected = (test.n, int(method.n_slices))
    if scores.shape != expected or not np.all(np.isfinite(scores)):
        raise MethodError(f"method {name!r} returned shape {scores.shape}, expected {expected}")
    if scores.min(initial=0.0) < 0.0 or scores.max(initial=0.0) > 1.0:
        raise MethodError(f"method {name!r} returned scores outside [0, 1]")
    return scores
