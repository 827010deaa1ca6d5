"""Stratum injectors, one per file, registered by kind.

Adding a kind = one new file with an :class:`~medstrata.strata.base.Injector` subclass decorated with
``@register_stratum("name")`` that declares its parameters, its severity knob (``knob``,
``severities``) and its constraints (``multiclass_only``, ``image_kinds``), plus its import below
(or, from another package, an entry point in the group ``medstrata.strata``). Suites, the
dose-response, the report and the conformance tests read everything from the registry
(:func:`declaration`). The registry is the shared :class:`medstrata.registry.Registry`.
"""

from __future__ import annotations

from typing import Any

from medstrata.registry import Registry
from medstrata.strata.base import Injector, check_injector


def _set_kind(name: str, cls: Any) -> None:
    cls.kind = name


#: The stratum kinds' registry (see :mod:`medstrata.registry` for the shared rules and errors).
REGISTRY = Registry("stratum kind", "medstrata.strata", check_injector, on_add=_set_kind)


def register_stratum(kind: str):
    """Class decorator: register an injector under a stable public name."""
    return REGISTRY.register(kind)


def get_injector(kind: str) -> Injector:
    """A fresh injector of ``kind``; :class:`~medstrata.registry.UnknownNameError` lists the kinds."""
    return REGISTRY.get(kind)()


def list_strata() -> list[str]:
    return REGISTRY.names()


def declaration(kind: str) -> dict[str, Any]:
    """What a kind declares for suites and reports: ``knob`` (the severity parameter),
    ``severities`` (mild to severe, the values ``suite=full`` and the dose-response use) and
    ``multiclass_only`` (needs a source with more than two classes)."""
    cls = REGISTRY.get(kind)
    return {"kind": kind, "knob": cls.knob, "severities": list(cls.severities),
            "multiclass_only": bool(cls.multiclass_only)}


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
