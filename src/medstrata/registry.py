"""One registry helper for every pluggable kind of component: stratum kinds, discovery methods and
embedding encoders. Each kind keeps one :class:`Registry`; all three give the same errors and load
plug-ins the same way.

* Built-ins register with the registry's decorator (``@register_method("name")``, ...). A name is a
  stable public identifier: lower-case letters, digits and underscores, starting with a letter.
* Other packages add components without touching MedStrata through an entry-point group
  (``medstrata.strata``, ``medstrata.methods``, ``medstrata.encoders``) whose entry points name a
  class; the entry-point name is the public name. Plug-ins load lazily, once.
* A plug-in that fails to import, is not a valid component or reuses a taken name does not break the
  others: it is left out of :meth:`Registry.names` with a :class:`PluginWarning`, and asking for it
  by name raises :class:`PluginLoadError` with the reason.
* Errors: :class:`RegistrationError` (a bad name, a taken name, an invalid class),
  :class:`UnknownNameError` (a name nobody registered; it lists the available ones),
  :class:`PluginLoadError`. All are :class:`~medstrata.errors.MedStrataError`: exit code 2 and one
  ``error:`` line on the command line.
"""

from __future__ import annotations

import re
import warnings
from importlib import metadata
from typing import Any, Callable, TypeVar

from medstrata.errors import MedStrataError, SpecError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
T = TypeVar("T")


class RegistrationError(MedStrataError):
    """A component cannot be registered (bad name, taken name, or not a valid component)."""


class UnknownNameError(SpecError):
    """No component of this kind is registered under this name."""


class PluginLoadError(MedStrataError):
    """A plug-in declared in an entry-point group could not be loaded."""


class PluginWarning(UserWarning):
    """A plug-in was left out of a registry (see the message for which and why)."""


class Registry:
    """Name -> class for one kind of component (``what``, e.g. "discovery method").

    Args:
        what: the words used in every message ("stratum kind", "discovery method", "encoder").
        group: the entry-point group of plug-ins.
        check: ``check(cls) -> reason or None``: why a class is not a valid component.
        unknown_error: the :class:`UnknownNameError` subclass raised for an unknown name.
        on_add: ``on_add(name, cls)`` runs when a built-in or a plug-in is added (e.g. to record
            the public name on the class).
    """

    def __init__(self, what: str, group: str, check: Callable[[Any], str | None] | None = None,
                 unknown_error: type[UnknownNameError] = UnknownNameError,
                 on_add: Callable[[str, Any], None] | None = None) -> None:
        self.what, self.group, self.check, self.unknown_error = what, group, check, unknown_error
        self.on_add = on_add
        self.builtins: dict[str, Any] = {}
        self.plugins: dict[str, Any] = {}
        self.broken: dict[str, str] = {}
        self.dists: dict[str, tuple[str, str]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: register the class under ``name``."""
        problem = self._bad_name(name)
        if problem:
            raise RegistrationError(f"cannot register {self.what} {name!r}: {problem}")

        def decorate(cls: T) -> T:
            reason = self.check(cls) if self.check else None
            if reason:
                raise RegistrationError(f"cannot register {self.what} {name!r}: {reason}")
            if name in self.builtins and self.builtins[name] is not cls:
                raise RegistrationError(f"{self.what} name {name!r} is already taken by "
                                        f"{getattr(self.builtins[name], '__qualname__', self.builtins[name])}")
            if self.on_add:
                self.on_add(name, cls)
            self.builtins[name] = cls
            return cls

        return decorate

    def unregister(self, name: str) -> None:
        """Forget a built-in (for tests that register a temporary component)."""
        self.builtins.pop(name, None)

    def names(self) -> list[str]:
        """Sorted names of every available component (built-ins and loaded plug-ins)."""
        self._load_plugins()
        return sorted({**self.plugins, **self.builtins})

    def get(self, name: str) -> Any:
        """The class registered as ``name``; :class:`UnknownNameError` or :class:`PluginLoadError`."""
        self._load_plugins()
        if name in self.builtins:
            return self.builtins[name]
        if name in self.plugins:
            return self.plugins[name]
        if name in self.broken:
            raise PluginLoadError(self.broken[name])
        raise self.unknown_error(f"unknown {self.what} {name!r}; available: {', '.join(self.names())}")

    def is_plugin(self, name: str) -> bool:
        self._load_plugins()
        return name in self.plugins and name not in self.builtins

    def distribution(self, name: str) -> tuple[str, str]:
        """(distribution, version) of a plug-in; ("unknown", "unknown") when the metadata is absent."""
        return self.dists.get(name, ("unknown", "unknown"))

    def broken_plugins(self) -> dict[str, str]:
        self._load_plugins()
        return dict(self.broken)

    def reload(self) -> None:
        """Forget the loaded plug-ins and read the entry-point group again."""
        self.plugins.clear()
        self.broken.clear()
        self.dists.clear()
        self._loaded = False
        self._load_plugins()

    def _bad_name(self, name: str) -> str | None:
        if not isinstance(name, str) or not NAME.match(name):
            return "names are lower-case letters, digits and underscores, starting with a letter"
        return None

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for ep in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            reason = self._load_one(ep)
            if reason:
                self.broken[ep.name] = reason
                warnings.warn(reason, PluginWarning, stacklevel=4)

    def _load_one(self, ep: metadata.EntryPoint) -> str | None:
        """Load one entry point; returns why it was refused, or None."""
        dist = getattr(ep, "dist", None)
        where = (f"plug-in {self.what} {ep.name!r} (entry point {ep.value!r} from "
                 f"{getattr(dist, 'name', None) or 'unknown distribution'})")
        if ep.name in self.builtins or ep.name in self.plugins:
            return f"{where} was ignored: the name {ep.name!r} is already registered"
        problem = self._bad_name(ep.name)
        if problem:
            return f"{where} was ignored: {problem}"
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - plug-in code is arbitrary; report, don't crash
            return f"{where} failed to load: {type(exc).__name__}: {exc}"
        reason = self.check(cls) if self.check else None
        if reason:
            return f"{where} was ignored: {reason}"
        if self.on_add:
            self.on_add(ep.name, cls)
        self.plugins[ep.name] = cls
        self.dists[ep.name] = (str(getattr(dist, "name", None) or "unknown"),
                               str(getattr(dist, "version", None) or "unknown"))
        return None
