"""Stratum injectors, one per file, registered by kind.

Adding a kind = one new file with an :class:`~medstrata.strata.base.Injector` subclass decorated with
``@register_stratum("name")``, plus its import below. The conformance tests pick it up from the registry.
"""

from __future__ import annotations

from medstrata.errors import SpecError
from medstrata.strata.base import Injector

_REGISTRY: dict[str, type[Injector]] = {}


def register_stratum(kind: str):
    """Class decorator: register an injector under a stable public name."""

    def deco(cls: type[Injector]) -> type[Injector]:
        if kind in _REGISTRY and _REGISTRY[kind] is not cls:
            raise ValueError(f"stratum kind {kind!r} registered twice")
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return deco


def get_injector(kind: str) -> Injector:
    if kind not in _REGISTRY:
        raise SpecError(f"unknown stratum kind {kind!r}; valid kinds: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[kind]()


def list_strata() -> list[str]:
    return sorted(_REGISTRY)


def canonical_order(kinds: list[str]) -> list[str]:
    """``kinds`` sorted into the one order in which strata are applied (ties: by name).

    Multi-stratum tasks are order-free: ``stratum=a,b`` and ``stratum=b,a`` are the same spec and
    the same task id. The order is chosen so that every stratum keeps its own promise:

    1. ``rare_subclass`` (order 10) decides which samples exist; later strata see only kept ones.
    2. ``label_noise`` (20) changes observed labels; later strata correlate with the observed label
       (the label a model is trained on).
    3. ``subtle_feature`` (30) rewrites member pixels (keeping their histogram).
    4. ``spurious_marker`` (40) draws its tag last, on top, so no later pixel change fades it, and
       its phi is set against the final training labels.
    """
    return sorted(kinds, key=lambda k: (get_injector(k).order, k))


from medstrata.strata import label_noise, rare_subclass, spurious_marker, subtle_feature  # noqa: E402,F401
