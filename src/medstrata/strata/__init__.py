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


from medstrata.strata import label_noise, rare_subclass, spurious_marker, subtle_feature  # noqa: E402,F401
