"""Registry of discovery methods: built-ins by decorator, outside packages by entry point.

Built-ins register themselves with ``@register_method("name")`` when :mod:`medstrata.methods` is
imported. Other packages add methods without touching MedStrata by declaring an entry point in the
group ``medstrata.methods`` whose value points to a :class:`SliceDiscoveryMethod` subclass::

    [project.entry-points."medstrata.methods"]
    my_method = "my_package.module:MyMethod"

The entry-point name is the public method name. Entry points are loaded lazily, once, on the first
call to :func:`list_methods`, :func:`get_method` or :func:`get_method_class`. A plug-in that fails
to import, does not point to a method class, or reuses a taken name does not break the others: it
is left out of :func:`list_methods` with a :class:`PluginWarning`, and asking for it by name raises
:class:`PluginLoadError` with the reason.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from medstrata.errors import MedStrataError
from medstrata.methods.base import SliceDiscoveryMethod
from medstrata.registry import PluginLoadError, PluginWarning, Registry, UnknownNameError

ENTRY_POINT_GROUP = "medstrata.methods"

T = TypeVar("T", bound=type)

__all__ = ["PluginLoadError", "PluginWarning", "UnknownMethodError", "REGISTRY"]


class UnknownMethodError(UnknownNameError):
    """No discovery method is registered under this name."""


def _why_invalid(cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, SliceDiscoveryMethod)):
        return f"{cls!r} is not a subclass of medstrata.methods.SliceDiscoveryMethod"
    if not cls.citation:
        return f"{cls.__qualname__} has no citation"
    if not isinstance(cls.version, str) or not cls.version:
        return f"{cls.__qualname__}.version must be a non-empty string"
    return None


def _set_name(name: str, cls: Any) -> None:
    cls.method_name = name


#: The methods' registry (see :mod:`medstrata.registry` for the shared rules and errors).
REGISTRY = Registry("discovery method", ENTRY_POINT_GROUP, _why_invalid, UnknownMethodError, _set_name)


def register_method(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`SliceDiscoveryMethod` subclass under ``name``.

    ``name`` is a stable public identifier (lower-case, digits, underscores); it goes into configs
    and result ids, so never rename a registered method.
    """
    return REGISTRY.register(name)


def list_methods() -> list[str]:
    """Sorted names of every available method (built-ins and successfully loaded plug-ins)."""
    return REGISTRY.names()


def get_method_class(name: str) -> type[SliceDiscoveryMethod]:
    """The class registered under ``name``; raises :class:`UnknownMethodError` or
    :class:`PluginLoadError`."""
    return REGISTRY.get(name)


def get_method(name: str, **params: Any) -> SliceDiscoveryMethod:
    """A new, unfitted instance of method ``name`` with ``params``."""
    cls = get_method_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise MedStrataError(f"bad parameters for method {name!r}: {exc}") from exc


def method_info(name: str) -> dict[str, Any]:
    """Flat description of a method: name, version, is_oracle, is_control, citation, defaults,
    and the distribution (package) that provides it with that distribution's version."""
    cls = get_method_class(name)
    package, package_version = method_package(name)
    return {
        "name": name, "version": cls.version, "is_oracle": bool(cls.is_oracle),
        "is_control": bool(cls.is_control), "citation": cls.citation,
        "plugin": REGISTRY.is_plugin(name), "defaults": _defaults(cls),
        "package": package, "package_version": package_version,
    }


def method_package(name: str) -> tuple[str, str]:
    """(distribution name, distribution version) that provides method ``name``.

    Built-ins come from ``medstrata`` itself; a plug-in from the distribution that declared its
    entry point, read from the installed metadata when the plug-in was loaded. Result cache keys
    include both, so reinstalling a plug-in under a new version never reuses stale results.
    """
    get_method_class(name)
    if not REGISTRY.is_plugin(name):
        from medstrata import __version__

        return "medstrata", str(__version__)
    return REGISTRY.distribution(name)


def check_params(name: str, params: dict[str, Any]) -> None:
    """Raise :class:`MedStrataError` unless every key of ``params`` is a constructor argument
    of method ``name`` (read from its ``__init__`` signature; nothing is built or fitted)."""
    cls = get_method_class(name)
    sig = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values()):
        return
    known = sorted(p for p in sig if p != "self")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise MedStrataError(
            f"unknown parameter(s) {unknown} for method {name!r}; its parameters are: "
            f"{', '.join(known)}")


def _defaults(cls: type) -> dict[str, Any]:
    """Constructor defaults read from the signature (no instance is built)."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params
            if p.name != "self" and p.default is not inspect.Parameter.empty}


def broken_plugins() -> dict[str, str]:
    """Names of plug-ins that failed to load, with the reason (empty when all loaded)."""
    return REGISTRY.broken_plugins()


def reload_plugins() -> None:
    """Forget the loaded plug-ins and read the entry-point group again (for tests and notebooks)."""
    REGISTRY.reload()
