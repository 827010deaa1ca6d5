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
import re
import warnings
from importlib import metadata
from typing import Any, Callable, TypeVar

from medstrata.errors import MedStrataError
from medstrata.methods.base import SliceDiscoveryMethod

ENTRY_POINT_GROUP = "medstrata.methods"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_BUILTINS: dict[str, type[SliceDiscoveryMethod]] = {}
_PLUGINS: dict[str, type[SliceDiscoveryMethod]] = {}
_BROKEN: dict[str, str] = {}
_DISTS: dict[str, tuple[str, str]] = {}  # plug-in name -> (distribution name, version)
_plugins_loaded = False

T = TypeVar("T", bound=type)


class UnknownMethodError(MedStrataError):
    """No discovery method is registered under this name."""


class PluginLoadError(MedStrataError):
    """A plug-in declared in the ``medstrata.methods`` entry-point group could not be loaded."""


class PluginWarning(UserWarning):
    """A plug-in was left out of the registry (see the message for which and why)."""


def register_method(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`SliceDiscoveryMethod` subclass under ``name``.

    ``name`` is a stable public identifier (lower-case, digits, underscores); it goes into configs
    and result ids, so never rename a registered method.
    """

    def decorate(cls: T) -> T:
        problem = _why_invalid(name, cls)
        if problem:
            raise MedStrataError(f"cannot register method {name!r}: {problem}")
        if name in _BUILTINS and _BUILTINS[name] is not cls:
            raise MedStrataError(
                f"method name {name!r} is already taken by {_BUILTINS[name].__qualname__}")
        cls.method_name = name
        _BUILTINS[name] = cls
        return cls

    return decorate


def list_methods() -> list[str]:
    """Sorted names of every available method (built-ins and successfully loaded plug-ins)."""
    _load_plugins()
    return sorted({**_PLUGINS, **_BUILTINS})


def get_method_class(name: str) -> type[SliceDiscoveryMethod]:
    """The class registered under ``name``; raises :class:`UnknownMethodError` or
    :class:`PluginLoadError`."""
    _load_plugins()
    if name in _BUILTINS:
        return _BUILTINS[name]
    if name in _PLUGINS:
        return _PLUGINS[name]
    if name in _BROKEN:
        raise PluginLoadError(_BROKEN[name])
    raise UnknownMethodError(
        f"unknown discovery method {name!r}; available: {', '.join(list_methods())}")


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
        "plugin": name in _PLUGINS, "defaults": _defaults(cls),
        "package": package, "package_version": package_version,
    }


def method_package(name: str) -> tuple[str, str]:
    """(distribution name, distribution version) that provides method ``name``.

    Built-ins come from ``medstrata`` itself; a plug-in from the distribution that declared its
    entry point, read from the installed metadata when the plug-in was loaded. Result cache keys
    include both, so reinstalling a plug-in under a new version never reuses stale results.
    """
    get_method_class(name)
    if name in _BUILTINS:
        from medstrata import __version__

        return "medstrata", str(__version__)
    return _DISTS.get(name, ("unknown", "unknown"))


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
    _load_plugins()
    return dict(_BROKEN)


def reload_plugins() -> None:
    """Forget the loaded plug-ins and read the entry-point group again (for tests and notebooks)."""
    global _plugins_loaded
    _PLUGINS.clear()
    _BROKEN.clear()
    _DISTS.clear()
    _plugins_loaded = False
    _load_plugins()


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        reason = _load_one(ep)
        if reason:
            _BROKEN[ep.name] = reason
            warnings.warn(reason, PluginWarning, stacklevel=3)


def _load_one(ep: metadata.EntryPoint) -> str | None:
    """Load one entry point into ``_PLUGINS``; returns why it was refused, or None."""
    dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown distribution"
    where = f"plug-in method {ep.name!r} (entry point {ep.value!r} from {dist})"
    if ep.name in _BUILTINS or ep.name in _PLUGINS:
        return f"{where} was ignored: the name {ep.name!r} is already registered"
    try:
        cls = ep.load()
    except Exception as exc:  # noqa: BLE001 - plug-in code is arbitrary; report, don't crash
        return f"{where} failed to load: {type(exc).__name__}: {exc}"
    problem = _why_invalid(ep.name, cls)
    if problem:
        return f"{where} was ignored: {problem}"
    cls.method_name = ep.name
    _PLUGINS[ep.name] = cls
    dist_obj = getattr(ep, "dist", None)
    _DISTS[ep.name] = (str(getattr(dist_obj, "name", None) or "unknown"),
                       str(getattr(dist_obj, "version", None) or "unknown"))
    return None


def _why_invalid(name: str, cls: Any) -> str | None:
    if not _NAME.match(name):
        return "names are lower-case letters, digits and underscores, starting with a letter"
    if not (isinstance(cls, type) and issubclass(cls, SliceDiscoveryMethod)):
        return f"{cls!r} is not a subclass of medstrata.methods.SliceDiscoveryMethod"
    if not cls.citation:
        return f"{cls.__qualname__} has no citation"
    if not isinstance(cls.version, str) or not cls.version:
        return f"{cls.__qualname__}.version must be a non-empty string"
    return None
