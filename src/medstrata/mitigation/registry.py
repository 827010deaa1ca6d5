"""Registry of mitigation strategies: built-ins by decorator, outside packages through the
``medstrata.mitigation`` entry-point group (same rules and errors as the methods' registry,
:mod:`medstrata.registry`)."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from medstrata.mitigation.base import MitigationStrategy
from medstrata.registry import Registry, UnknownNameError

ENTRY_POINT_GROUP = "medstrata.mitigation"
T = TypeVar("T", bound=type)


class UnknownStrategyError(UnknownNameError):
    """No mitigation strategy is registered under this name."""


def _why_invalid(cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, MitigationStrategy)):
        return f"{cls!r} is not a subclass of medstrata.mitigation.MitigationStrategy"
    if not cls.citation:
        return f"{cls.__qualname__} has no citation"
    if not isinstance(cls.version, str) or not cls.version:
        return f"{cls.__qualname__}.version must be a non-empty string"
    if not cls.grid or not all(isinstance(g, dict) for g in cls.grid):
        return f"{cls.__qualname__}.grid must be a non-empty list of dicts"
    return None


def _set_name(name: str, cls: Any) -> None:
    cls.strategy_name = name


REGISTRY = Registry("mitigation strategy", ENTRY_POINT_GROUP, _why_invalid, UnknownStrategyError, _set_name)


def register_strategy(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`MitigationStrategy` subclass under ``name``."""
    return REGISTRY.register(name)


def list_strategies() -> list[str]:
    """Sorted names of every available strategy."""
    return REGISTRY.names()


def get_strategy_class(name: str) -> type[MitigationStrategy]:
    """The class registered as ``name``; :class:`UnknownStrategyError` otherwise."""
    return REGISTRY.get(name)


def get_strategy(name: str, key: str = "medstrata") -> MitigationStrategy:
    """A new, unfitted strategy ``name`` whose random draws are keyed by ``key``."""
    return get_strategy_class(name)(key=key)
