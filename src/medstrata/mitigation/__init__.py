"""Mitigation with discovered groups: retrain the reference model's last layer on its frozen
penultimate features, using the groups a discovery method found, and see how much of the
worst-group gap between ERM and oracle-group training it closes (``docs/mitigation.md``).

* :mod:`~medstrata.mitigation.data`: the :class:`Split` a strategy sees and the group rule.
* :mod:`~medstrata.mitigation.head`: the linear head, its trainer and the val selection score.
* one module per strategy: ``erm``, ``group_dro`` (default), ``dfr``, ``jtt_upweight``.
* :func:`mitigate`: discovery groups on train and val -> fitted strategy -> test probabilities.

Outside packages add strategies through the ``medstrata.mitigation`` entry-point group.
"""

from __future__ import annotations

from medstrata.mitigation.base import MitigationStrategy
from medstrata.mitigation.data import MitigationError, Split, make_split, slices_of
from medstrata.mitigation.head import LinearHead
from medstrata.mitigation.registry import (
    ENTRY_POINT_GROUP, UnknownStrategyError, get_strategy, get_strategy_class, list_strategies,
    register_strategy,
)
from medstrata.mitigation.run import MitigationResult, mitigate

from medstrata.mitigation import dfr, erm, group_dro, jtt_upweight  # noqa: E402,F401  isort: skip

DEFAULT_STRATEGY = "group_dro"

__all__ = [
    "DEFAULT_STRATEGY", "ENTRY_POINT_GROUP", "LinearHead", "MitigationError", "MitigationResult",
    "MitigationStrategy", "Split", "UnknownStrategyError", "get_strategy", "get_strategy_class",
    "list_strategies", "make_split", "mitigate", "register_strategy", "slices_of",
]
