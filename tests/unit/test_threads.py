"""MEDSTRATA_THREADS overrides the torch thread count, and a bad value is a clear error."""

import pytest

from medstrata.errors import SpecError
from medstrata.models.threads import torch_threads


def test_default_is_the_callers(monkeypatch):
    monkeypatch.delenv("MEDSTRATA_THREADS", raising=False)
    assert torch_threads(2) == 2


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("MEDSTRATA_THREADS", "1")
    assert torch_threads(2) == 1


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_value_is_named(monkeypatch, bad):
    monkeypatch.setenv("MEDSTRATA_THREADS", bad)
    with pytest.raises(SpecError, match="MEDSTRATA_THREADS"):
        torch_threads(2)
