"""The stratum-injector protocol: *who* (``assign``) is split from *how* (``apply``).

* ``assign(params, state) -> Assignment`` decides, for every sample of the source, whether it is a
  stratum member, whether it is kept, its observed label, and the per-sample parameters that
  ``apply`` will use. All randomness is keyed by ``(spec hash, sample id, purpose)`` through
  :func:`medstrata.hashing.keyed_uniform` / :func:`~medstrata.hashing.keyed_rng`, never passed in
  as a shared generator, so the result does not depend on processing order or worker count.
  (STYLE.md sketches ``assign(labels, split, rng)``; a shared ``rng`` would make draws depend on the
  order samples are visited, which is exactly what keyed draws avoid.)
* ``apply(image, sample_params, state) -> image`` is pure: uint8 in, uint8 out, and everything it
  needs is in ``sample_params``, which the manifest records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from medstrata.errors import SpecError


@dataclass(frozen=True)
class Param:
    """One knob of an injector. ``default=None`` with ``dataset_default=True`` means the default
    depends on the dataset and is filled in by :meth:`Injector.dataset_defaults`.

    ``added_later``: a knob added after tasks were published. At its default it is left out of the
    resolved spec (so the id and every keyed draw of an older task stay the same); the injector
    reads it with :meth:`Injector.param`."""

    type: type
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    added_later: bool = False

    def coerce(self, name: str, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise SpecError(f"parameter {name} may not be null")
        try:
            if self.type is bool and isinstance(value, str):
                raise TypeError
            if self.type is int and isinstance(value, float) and not value.is_integer():
                raise TypeError
            out = self.type(value)
        except (TypeError, ValueError):
            raise SpecError(f"parameter {name}={value!r} is not a valid {self.type.__name__}") from None
        if self.choices is not None and out not in self.choices:
            raise SpecError(f"parameter {name}={out!r} must be one of {', '.join(map(str, self.choices))}")
        if self.low is not None and out < self.low or self.high is not None and out > self.high:
            raise SpecError(f"parameter {name}={out!r} is outside the allowed range [{self.low}, {self.high}]")
        return out


@dataclass
class BuildState:
    """What an injector may read while a task is being built. Arrays are (n,) over all source samples
    (train, then val, then test), except ``images`` (n, ...) uint8.

    ``label`` is the *observed* label after the strata applied so far; ``clean_label`` never changes.
    """

    key: str
    flag: str
    image_kind: str
    size: int
    sample_ids: np.ndarray
    split: np.ndarray
    source_label: np.ndarray
    clean_label: np.ndarray
    label: np.ndarray
    keep: np.ndarray
    images: np.ndarray
    n_classes: int
    class_names: list[str]
    source_class_names: list[str]
    target: dict
    source_index: np.ndarray | None = None
    _positions: dict | None = field(default=None, repr=False)

    def index(self, split: str | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Positions of kept samples, optionally of one split and matching ``mask``."""
        sel = self.keep.copy()
        if split is not None:
            sel &= self.split == split
        if mask is not None:
            sel &= mask
        return np.flatnonzero(sel)

    def position(self, sample_id: str) -> int:
        if self._positions is None:
            self._positions = {s: i for i, s in enumerate(self.sample_ids.tolist())}
        return self._positions[sample_id]


@dataclass
class Assignment:
    """Output of ``assign``. ``stratum`` (n,) int: 0 = not a member, k >= 1 = member of sub-stratum k
    (named in ``names``). ``keep``/``label`` are None when unchanged. ``sample_params`` maps a sample
    position to the JSON-able parameters recorded in the manifest; ``touched`` positions are passed
    to ``apply``."""

    stratum: np.ndarray
    names: dict[int, str]
    keep: np.ndarray | None = None
    label: np.ndarray | None = None
    sample_params: dict[int, dict] = field(default_factory=dict)
    touched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    summary: dict = field(default_factory=dict)


class Injector:
    """Base class of the stratum kinds. Subclasses set ``kind``, ``params``, ``citation`` and
    implement ``assign`` and (if they change pixels) ``apply``."""

    kind: ClassVar[str] = ""
    #: Position in the canonical application order (see :data:`medstrata.strata.CANONICAL_ORDER`).
    order: ClassVar[int] = 100
    params: ClassVar[dict[str, Param]] = {}
    image_kinds: ClassVar[tuple[str, ...]] = ("2d_grey", "2d_rgb", "3d")
    citation: ClassVar[str] = ""
    #: The severity knob: one of ``params``; ``severities`` are its values from mild to severe
    #: (``suite=full`` builds one task per value; the dose-response sweeps them).
    knob: ClassVar[str] = ""
    severities: ClassVar[tuple] = ()
    #: True when the kind needs a source with more than two classes (e.g. a subclass of a superclass).
    multiclass_only: ClassVar[bool] = False

    def dataset_defaults(self, flag: str, target: dict) -> dict[str, Any]:
        """Defaults that depend on the dataset (e.g. which subclass); override where needed."""
        return {}

    def resolve(self, given: dict[str, Any], flag: str, target: dict) -> dict[str, Any]:
        """Fill defaults, coerce types, check ranges. Unknown keys are an error."""
        unknown = set(given) - set(self.params)
        if unknown:
            raise SpecError(
                f"unknown parameter(s) {', '.join(sorted(unknown))} for stratum {self.kind}; "
                f"valid: {', '.join(self.params)}"
            )
        merged = {k: p.default for k, p in self.params.items()}
        merged.update(self.dataset_defaults(flag, target))
        merged.update(given)
        out = {k: self.params[k].coerce(k, v) for k, v in merged.items()}
        return {k: v for k, v in out.items() if not (self.params[k].added_later and v == self.params[k].default)}

    def param(self, params: dict[str, Any], name: str) -> Any:
        """``params[name]``, or the knob's default for an ``added_later`` knob left out at its default."""
        return params[name] if name in params else self.params[name].default

    def assign(self, params: dict[str, Any], state: BuildState) -> Assignment:
        raise NotImplementedError

    def apply(self, image: np.ndarray, sample_params: dict, state: BuildState) -> np.ndarray:
        return image

    def apply_batch(self, images: np.ndarray, params: list[dict], state: BuildState) -> np.ndarray:
        """(n, ...) uint8 -> (n, ...) uint8: ``apply`` on each image. Injectors may override it with
        a vectorised version that gives the same bytes."""
        return np.stack([self.apply(im, p, state) for im, p in zip(images, params)]) if len(images) else images.copy()


def pick_smallest(u: np.ndarray, index: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` positions of ``index`` with the smallest keyed uniforms ``u[index]`` (ties by position).

    Because ``u`` is a pure function of each sample id, the chosen set does not depend on order.
    """
    if k <= 0:
        return index[:0]
    order = np.lexsort((index, u[index]))
    return np.sort(index[order[:k]])


def check_injector(cls: Any) -> str | None:
    """Why ``cls`` is not a valid stratum kind (for the registry), or None: an :class:`Injector`
    subclass with a citation, a ``knob`` among its ``params`` and at least two ``severities`` that
    the knob's own :class:`Param` accepts."""
    if not (isinstance(cls, type) and issubclass(cls, Injector)):
        return f"{cls!r} is not a subclass of medstrata.strata.base.Injector"
    if cls.knob not in cls.params:
        return f"{cls.__qualname__}.knob {cls.knob!r} is not one of its params ({', '.join(cls.params)})"
    if len(cls.severities) < 2:
        return f"{cls.__qualname__}.severities must list at least two values of {cls.knob!r}, mild to severe"
    try:
        for level in cls.severities:
            cls.params[cls.knob].coerce(cls.knob, level)
    except SpecError as exc:
        return f"{cls.__qualname__}.severities: {exc}"
    return None
