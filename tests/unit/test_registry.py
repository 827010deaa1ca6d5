"""The one registry helper (:mod:`medstrata.registry`): stratum kinds, discovery methods and
encoders give the same errors and load plug-ins the same way."""

from __future__ import annotations

import types
import warnings

import pytest

from medstrata.errors import MedStrataError, SpecError
from medstrata.registry import PluginLoadError, PluginWarning, RegistrationError, UnknownNameError


def _registries():
    from medstrata.methods.registry import REGISTRY as methods
    from medstrata.models.encoders import REGISTRY as encoders
    from medstrata.strata import REGISTRY as strata

    return {"stratum kind": strata, "discovery method": methods, "encoder": encoders}


@pytest.mark.parametrize("what", ["stratum kind", "discovery method", "encoder"])
def test_same_errors_for_every_kind_of_component(what):
    reg = _registries()[what]
    with pytest.raises(UnknownNameError, match=rf"unknown {what} 'nope'; available: {reg.names()[0]}") as exc:
        reg.get("nope")
    assert isinstance(exc.value, SpecError) and exc.value.exit_code == 2
    with pytest.raises(RegistrationError, match=rf"cannot register {what} 'Bad-Name': names are lower-case"):
        reg.register("Bad-Name")
    with pytest.raises(RegistrationError, match=rf"cannot register {what} 'plain'"):
        reg.register("plain")(42)
    taken = reg.names()[0]
    good = reg.get(taken)
    with pytest.raises(RegistrationError, match=rf"{what} name '{taken}' is already taken"):
        reg.register(taken)(type("Other", (good,), {}))


class _EntryPoint:
    def __init__(self, name, target, dist=("demo-dist", "1.2")):
        self.name, self.value, self._target = name, f"demo:{name}", target
        self.dist = types.SimpleNamespace(name=dist[0], version=dist[1])

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


@pytest.mark.parametrize("what", ["stratum kind", "discovery method", "encoder"])
def test_same_plugin_handling_for_every_kind(what, monkeypatch):
    reg = _registries()[what]
    good = type("Plugged", (reg.get(reg.names()[0]),), {})
    points = [_EntryPoint("demo_good", good), _EntryPoint("demo_broken", ModuleNotFoundError("no module demo")),
              _EntryPoint(reg.names()[0], good)]
    monkeypatch.setattr("medstrata.registry.metadata.entry_points",
                        lambda group: points if group == reg.group else [])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reg.reload()
        messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
        assert "demo_good" in reg.names() and reg.is_plugin("demo_good") and reg.get("demo_good") is good
        assert reg.distribution("demo_good") == ("demo-dist", "1.2")
        assert "demo_broken" not in reg.names()
        assert any("demo_broken" in m and "failed to load: ModuleNotFoundError" in m for m in messages)
        assert any("is already registered" in m for m in messages)
        with pytest.raises(PluginLoadError, match=rf"plug-in {what} 'demo_broken'.*demo-dist.*failed to load"):
            reg.get("demo_broken")
        assert isinstance(PluginLoadError("x"), MedStrataError)
    finally:
        monkeypatch.undo()
        reg.reload()
    assert "demo_good" not in reg.names()
