"""Held-out tasks of the private tier, derived from the maintainer's secret.

The private plan has the public suite's cells (same datasets, targets, stratum kinds, model specs and
number of seeds), each varied by draws keyed on the secret:

* the kind's severity knob: one of the values its injector declares (``severities``);
* where the kind has one, which class or subclass carries the stratum: ``subclass`` (of a superclass
  with at least two official classes when the target has a mapping), ``cls``, ``donor_cls`` (only
  when the public cell fixes one; never the members' own class), ``positive_class``;
* for ``spurious_marker``, the tag's shape: a (tag, distractor) pair of different glyphs with the
  same ink (so only the shape carries the cue, as the injector requires). The tags' positions and
  sizes are keyed draws on the task's spec hash, so they move with every private task anyway;
* the seeds (``[0, 2^31 - 1)``, distinct within a cell).

Every other parameter keeps the public suite's value (e.g. ``histogram``, ``marker_size``: settings
chosen for the validity gates). A draw uniform over the valid values may land on the public value;
excluding it would tell a submitter what a private task is *not*.

Every draw is ``HMAC-SHA256(secret, canonical_json([cell, kind, purpose]))`` reduced to an index
(:func:`keyed_index`), with ``cell`` the canonical JSON of the public cell (dataset, target, strata
and their public params): never the global RNG, and stable under suite filters and reordering. The
same secret gives the same plan and task ids on every machine; another secret gives other tasks.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from medstrata.hashing import canonical_json

#: The parameters that name a class or subclass, in draw order (``donor_cls`` after ``cls``).
CLASS_PARAMS = ("subclass", "cls", "donor_cls", "positive_class")
_MAX_SEED = 2**31 - 1


def hmac_hex(secret: str, parts: list[Any]) -> str:
    """HMAC-SHA256 of ``canonical_json(parts)`` keyed by ``secret`` (UTF-8), as 64 hex digits."""
    return hmac.new(secret.encode("utf-8"), canonical_json(parts).encode("ascii"), hashlib.sha256).hexdigest()


def keyed_index(secret: str, parts: list[Any], n: int) -> int:
    """An index in ``[0, n)`` drawn from ``(secret, parts)`` (first 64 bits of the HMAC, mod n)."""
    if n < 1:
        raise ValueError(f"keyed_index needs n >= 1, got {n}")
    return int(hmac_hex(secret, parts)[:16], 16) % n


def private_plan(secret: str, cfg) -> list[dict[str, Any]]:
    """The private tier's jobs for the suite of ``cfg`` (a composed run config, see
    :func:`medstrata.runner.app.compose`): one per (public cell, replicate), in the shape of
    :func:`medstrata.runner.app.plan`'s jobs (``dataset, kind, params, strata, target, model, seed,
    methods``) plus ``replicate`` (0 .. n_seeds - 1). Checked like a public plan by
    :func:`medstrata.runner.preflight.check_jobs`."""
    from medstrata.runner.suite import method_configs, seeds, task_cells

    methods, n_seeds = method_configs(cfg), len(seeds(cfg))
    jobs = []
    for cell in task_cells(cfg):
        key = canonical_json({"dataset": cell.dataset, "target": cell.target, "strata": cell.all_strata()})
        strata = [(kind, vary_params(secret, [key, kind], cell.dataset, cell.target, kind, params))
                  for kind, params in cell.all_strata()]
        for r, seed in enumerate(private_seeds(secret, key, n_seeds)):
            jobs.append({"dataset": cell.dataset, "kind": strata[0][0], "params": strata[0][1],
                         "strata": strata, "target": cell.target, "model": cell.model, "seed": seed,
                         "methods": methods, "replicate": r})
    return jobs


def private_seeds(secret: str, cell: str, n: int) -> list[int]:
    """``n`` distinct seeds in ``[0, 2^31 - 1)`` for one cell, keyed by the secret."""
    out: list[int] = []
    attempt = 0
    while len(out) < n:
        seed = keyed_index(secret, [cell, "seed", len(out), attempt], _MAX_SEED)
        if seed in out:
            attempt += 1
            continue
        out.append(seed)
    return out


def vary_params(secret: str, key: list[Any], flag: str, target: str | None, kind: str,
                params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of one stratum with the knob, class parameters and tag shapes drawn from the
    secret (see the module docstring); only values the injector accepts."""
    from medstrata.strata import get_injector
    from medstrata.tasks.target import resolve_target

    injector = get_injector(kind)
    tgt = resolve_target(flag, target)
    out = dict(params)
    out[injector.knob] = _pick(secret, key, injector.knob, list(injector.severities))
    resolved = injector.resolve(dict(params), flag, tgt)
    for name in CLASS_PARAMS:
        if name in injector.params:
            options = class_options(name, {**resolved, **out}, flag, tgt, kind)
            if options:
                out[name] = _pick(secret, key, name, options)
    if {"tag", "distractor"} <= set(injector.params):
        out["tag"], out["distractor"] = _pick(secret, key, "tag", same_ink_pairs())
    return out


def class_options(name: str, resolved: dict[str, Any], flag: str, target: dict, kind: str) -> list[int]:
    """Valid values of class parameter ``name`` given the stratum's other ``resolved`` params; an
    empty list when the stratum does not use it (the public value is then kept)."""
    n_task = len(target["class_names"])
    uses_subclass = resolved.get("group", "subclass") == "subclass"
    if name == "subclass":
        if not uses_subclass:
            return []
        from medstrata.data import info as minfo

        mapping = target.get("mapping")
        official = range(len(minfo.class_names(flag)))
        if not mapping:
            return [] if kind == "rare_subclass" else list(official)
        return [c for c in official if sum(1 for m in mapping if m == mapping[c]) >= 2]
    if name == "cls":
        return [] if uses_subclass else list(range(n_task))
    if name == "donor_cls":
        own = resolved.get("cls")
        return [] if resolved.get("donor_cls") is None else [c for c in range(n_task) if c != own]
    if name == "positive_class":
        return list(range(n_task))
    raise ValueError(f"not a class parameter: {name!r}")


def same_ink_pairs() -> list[tuple[str, str]]:
    """(tag, distractor) pairs of different glyphs with the same number of ink pixels, sorted."""
    from medstrata.strata.markers import GLYPHS

    ink = {name: int(g.sum()) for name, g in GLYPHS.items()}
    return sorted((a, b) for a in ink for b in ink if a != b and ink[a] == ink[b])


def _pick(secret: str, key: list[Any], purpose: str, options: list) -> Any:
    return options[keyed_index(secret, [*key, purpose], len(options))]
