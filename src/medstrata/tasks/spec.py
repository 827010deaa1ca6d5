"""Task specs: parsing Hydra-style ``key=value`` overrides, resolving defaults, canonical form and ids.

Grammar (``medstrata build ...``)::

    dataset=<flag>  size=28  seed=<int>  target=<official|superclass|any_finding>
    stratum=<kind>  |  stratum=<kind>,<kind>  |  stratum=[<kind>,<kind>]  |  stratum=none
    stratum.<param>=<value>          (when there is one stratum)
    stratum.<kind>.<param>=<value>   (always allowed)

Values are parsed as YAML scalars/lists (``0.05``, ``true``, ``[1,2]``) and then coerced by the
injector's parameter schema, so ``p=0.05`` and ``p=5e-2`` give the same spec and the same id.
The *resolved* spec (every default filled in) is what gets hashed: stating a default explicitly
does not change the id. Strata are put in one canonical order (:func:`medstrata.strata.canonical_order`),
so ``stratum=a,b`` and ``stratum=b,a`` are the same spec with the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from medstrata import BUILDER_VERSION
from medstrata.data import info as minfo
from medstrata.errors import SpecError
from medstrata.hashing import content_hash
from medstrata.strata import canonical_order, get_injector
from medstrata.tasks.target import resolve_target

TOP_KEYS = ("dataset", "size", "seed", "target", "stratum")


@dataclass(frozen=True)
class TaskSpec:
    """A fully resolved task spec. ``strata`` is a tuple of ``(kind, params)`` in the canonical
    application order (:func:`medstrata.strata.canonical_order`), whatever order they were given in."""

    dataset: str
    size: int
    seed: int
    target: dict
    strata: tuple[tuple[str, dict], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "size": self.size,
            "seed": self.seed,
            "target": self.target,
            "strata": [{"kind": k, "params": p} for k, p in self.strata],
        }

    @property
    def spec_hash(self) -> str:
        """Hash of the resolved spec alone: the key of every random draw of the build."""
        return content_hash(self.to_dict())

    def task_id(self, source_sha256: str) -> str:
        """Content hash of (resolved spec, source SHA-256, builder version), 16 hex digits."""
        return content_hash({"spec": self.to_dict(), "source_sha256": source_sha256, "builder": BUILDER_VERSION})[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaskSpec":
        return resolve_spec(d["dataset"], d["size"], d["seed"], d["target"]["kind"],
                            [(s["kind"], s["params"]) for s in d["strata"]])


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text != "" else None
    except yaml.YAMLError:
        return text


def _split_kinds(value: Any) -> list[str]:
    if value is None or value == "none":
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"stratum= expects a kind or a comma-separated list of kinds, got {value!r}")
    if len(set(value)) != len(value):
        raise SpecError(f"stratum= lists a kind twice: {value}")
    return value


def parse_overrides(args: list[str]) -> TaskSpec:
    """Parse ``key=value`` overrides into a resolved :class:`TaskSpec`."""
    top: dict[str, Any] = {}
    stratum_params: list[tuple[list[str], Any]] = []
    for arg in args:
        if "=" not in arg:
            raise SpecError(f"expected key=value, got {arg!r}")
        key, raw = arg.split("=", 1)
        value = _parse_value(raw) if key != "stratum" else raw
        if key.startswith("stratum."):
            stratum_params.append((key.split(".")[1:], value))
        elif key in TOP_KEYS:
            top[key] = value
        else:
            raise SpecError(f"unknown key {key!r}; valid keys: {', '.join(TOP_KEYS)}, stratum.<param>")
    if "dataset" not in top:
        raise SpecError("dataset=<flag> is required; valid flags: " + ", ".join(minfo.flags()))
    kinds = _split_kinds(top.get("stratum"))
    params: dict[str, dict] = {k: {} for k in kinds}
    for path, value in stratum_params:
        kind, name = _param_target(path, kinds)
        params[kind][name] = value
    return resolve_spec(str(top["dataset"]), top.get("size", 28), top.get("seed", 0), top.get("target"),
                        [(k, params[k]) for k in kinds])


def _param_target(path: list[str], kinds: list[str]) -> tuple[str, str]:
    if len(path) == 2 and path[0] in kinds:
        return path[0], path[1]
    if len(path) == 1 and len(kinds) == 1:
        return kinds[0], path[0]
    if len(path) == 1:
        raise SpecError(f"stratum.{path[0]} is ambiguous with {len(kinds)} strata; write stratum.<kind>.{path[0]}")
    raise SpecError(f"stratum.{'.'.join(path)} does not name a stratum of this spec ({', '.join(kinds) or 'none'})")


#: Seeds are ints in [0, SEED_MAX]: the seed keys the build and the model, and discovery random
#: states (seed + 1000 r) must stay below 2**32 for scikit-learn.
SEED_MAX = 2**31 - 1


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{name} must be an integer, got {value!r}")
    return value


def check_seed(value: Any) -> int:
    """``value`` as a seed: an int in [0, :data:`SEED_MAX`], else SpecError."""
    seed = _as_int("seed", value)
    if not 0 <= seed <= SEED_MAX:
        raise SpecError(f"seed must be between 0 and {SEED_MAX}, got {seed}")
    return seed


def _check_finite(kind: str, params: dict[str, Any]) -> None:
    import math

    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"parameter {kind}.{name}={value!r} must be a finite number")


def resolve_spec(dataset: str, size: Any, seed: Any, target: str | None, strata: list[tuple[str, dict]]) -> TaskSpec:
    """Validate everything that can be checked without the data, and fill in all defaults."""
    minfo.info(dataset)
    size, seed = _as_int("size", size), check_seed(seed)
    for kind, params in strata:
        if not isinstance(params, dict):
            raise SpecError(f"stratum {kind!r}: params must be a mapping, got {params!r}")
    minfo.check_size(dataset, size)
    tgt = resolve_target(dataset, target)
    if len({k for k, _ in strata}) != len(strata):
        raise SpecError(f"a stratum kind is listed twice: {[k for k, _ in strata]}")
    given = dict(strata)
    resolved = tuple((kind, get_injector(kind).resolve(dict(given[kind]), dataset, tgt))
                     for kind in canonical_order(list(given)))
    for kind, params in resolved:
        _check_finite(kind, params)
    return TaskSpec(dataset=dataset, size=size, seed=seed, target=tgt, strata=resolved)
