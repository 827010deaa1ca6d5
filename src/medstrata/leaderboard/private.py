"""The leaderboard's private tier: held-out tasks from a secret, opaque sample ids, code submissions only.

Why: a public task's sample id ``<flag>-<size>-<split>-<index>`` names the official image, whose
official label recovers a ``rare_subclass`` or subclass ``label_noise`` stratum exactly, and every
public task can be rebuilt from its published spec. The private tier removes both: its tasks are
drawn from the maintainer's secret (:mod:`.private_plan`), and the methods see them through opaque
ids in a keyed row order. Design, rotation and the page: ``docs/private_tier.md``.

* :func:`load_secret` reads ``MEDSTRATA_PRIVATE_SECRET`` (text) or ``MEDSTRATA_PRIVATE_SECRET_FILE``
  (a file outside the repository); no message ever contains the secret.
* :func:`opaque_id` ``p-`` + 24 hex digits of HMAC-SHA256(secret, sample id); :func:`private_problem`
  renames a Problem's ids and reorders its rows by them (the official files are in index order, so
  the row order of a task's test split would otherwise give the index away).
* :func:`run_private` runs one registered method on every private task with the public path's job
  functions, scorer and mitigation step (the method refitted on renamed views), and returns records fit to leave the maintainer's machine
  (:func:`private_records`): ``tier="private"``, aliases ``priv-<hash>`` for task and result ids,
  no spec, seed, sample id, model id or count that would identify a stratum.

Only code submissions (registered methods) run here. There is no way to submit slice scores for a
private task: its sample ids and tasks are never published, so an outputs submission has nothing to
refer to.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path
from typing import Mapping

import numpy as np

from medstrata.errors import PrivateSecretError, SpecError
from medstrata.leaderboard.private_plan import hmac_hex, private_plan
from medstrata.problem import Problem, Renaming

SECRET_ENV = "MEDSTRATA_PRIVATE_SECRET"
SECRET_FILE_ENV = "MEDSTRATA_PRIVATE_SECRET_FILE"
MIN_SECRET_CHARS = 16
_HOW = (f"set {SECRET_ENV} to the maintainer's secret (at least {MIN_SECRET_CHARS} characters), or "
        f"{SECRET_FILE_ENV} to the path of a file outside the repository that holds it, e.g. "
        f"`python -c 'import secrets; print(secrets.token_hex(32))' > ~/.medstrata_private_secret`")

#: Embeddings a private run may use: the reference model's own features. ``pixel_pca`` is refused.
PRIVATE_EMBEDDINGS = ("penultimate",)

#: Record columns that may leave the maintainer's machine (everything else is dropped).
PUBLIC_COLUMNS = (
    "dataset", "target", "kind", "method", "method_version", "method_params", "is_oracle",
    "is_control", "embedding", "stratum_column", "stratum_id", "n_slices", "medstrata_version",
    "wall_s", "match_by", "n_directions", "split_agreement", "nan_reason", "ap", "auroc", "p_at_10",
    "p_at_25", "precision", "recall", "f1", "ap_insample", "p_at_10_dcbench", "ami", "ari", "ap_boot",
    "worst_slice_acc",
    # mitigation (docs/mitigation.md): test worst-group figures of heads fitted on train/val only
    "mitigation", "mitigation_params", "acc_wg_mitigated", "auroc_wg_mitigated", "acc_avg_mitigated",
    "acc_wg_erm", "acc_wg_nogroups", "acc_wg_oracle_mitigated", "gap_closed", "gap_closed_defined",
    "gap_closed_erm", "gap_closed_erm_defined",
)


def load_secret(environ: Mapping[str, str] | None = None) -> str:
    """The maintainer's secret from ``MEDSTRATA_PRIVATE_SECRET`` or ``MEDSTRATA_PRIVATE_SECRET_FILE``
    (trailing whitespace of the file stripped). :class:`PrivateSecretError` when neither or both are
    set, when the file is missing or lies inside a git checkout of MedStrata or of the working
    directory, or when the secret is shorter than ``MIN_SECRET_CHARS``."""
    env = os.environ if environ is None else environ
    text, file = env.get(SECRET_ENV), env.get(SECRET_FILE_ENV)
    if text and file:
        raise PrivateSecretError(f"both {SECRET_ENV} and {SECRET_FILE_ENV} are set; set only one")
    if file:
        text = _read_secret_file(Path(file).expanduser())
    if not text:
        raise PrivateSecretError(f"the private tier needs the maintainer's secret: {_HOW}")
    return check_secret(text)


def check_secret(secret: str) -> str:
    """``secret`` if it is a string of at least ``MIN_SECRET_CHARS`` characters, else the error."""
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
        raise PrivateSecretError(f"the private secret is too short or not text: {_HOW}")
    return secret


def _read_secret_file(path: Path) -> str:
    if not path.is_file():
        raise PrivateSecretError(f"{SECRET_FILE_ENV}={path}: no such file; {_HOW}")
    real = path.resolve()
    for root in _checkouts():
        if real.is_relative_to(root):
            raise PrivateSecretError(f"{SECRET_FILE_ENV}={path} lies inside the git checkout {root}, "
                                     "where it can be committed or shipped; move it outside the repository")
    return path.read_text(encoding="utf-8").rstrip()


def _checkouts() -> list[Path]:
    """The git work trees holding the installed package and the working directory (a ``.git``
    folder, or a ``.git`` file for a worktree)."""
    roots = []
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        root = next((d for d in (start, *start.parents) if (d / ".git").exists()), None)
        if root is not None and root not in roots:
            roots.append(root)
    return roots


def opaque_id(secret: str, sample_id: str) -> str:
    """``p-`` + the first 24 hex digits (96 bits) of HMAC-SHA256(secret, sample id): without the
    secret it cannot be mapped back to a source index."""
    return "p-" + hmac_hex(secret, ["opaque_id", str(sample_id)])[:24]


def alias(secret: str, what: str, real_id: str) -> str:
    """Public alias ``priv-<16 hex>`` of a task or result id: keyed by the secret, so it reveals
    neither the id, nor the spec behind it, nor the secret."""
    return "priv-" + hmac_hex(secret, ["alias", what, str(real_id)])[:16]


def secret_id(secret: str) -> str:
    """``k-<8 hex>``: which secret (round of the private tier) a record belongs to; a keyed hash,
    so it tells rounds apart without revealing the secret."""
    return "k-" + hmac_hex(secret, ["secret_id"])[:8]


def renaming(secret: str) -> Renaming:
    """The private tier's :class:`~medstrata.problem.Renaming` (real id -> :func:`opaque_id`). Its
    ``key`` (part of result cache keys) is a keyed hash, not the secret."""
    return Renaming(key="opaque-" + hmac_hex(secret, ["renaming"])[:16], rename=partial(opaque_id, secret))


def private_problem(problem: Problem, secret: str) -> Problem:
    """``problem`` as a private-tier method sees it: every sample id replaced by its
    :func:`opaque_id`, rows sorted by opaque id (so no row position gives an index away).

    Every other field is model output, not identity: ``labels (n,)``, ``probs (n, C)``,
    ``losses (n,)``, ``embeddings (n, d)``, ``embedding_name``, ``id_probs (n, C)``. Map scores back
    with :func:`restore_rows`, ids with :func:`true_ids`.
    """
    return renaming(check_secret(secret)).problem(problem)


def restore_rows(scores: np.ndarray, problem: Problem, secret: str) -> np.ndarray:
    """(n, k) scores computed on ``private_problem(problem, secret)`` -> rows in ``problem``'s order."""
    return renaming(secret).restore(scores, problem)


def true_ids(opaque: np.ndarray, real_ids: np.ndarray, secret: str) -> np.ndarray:
    """The real id of every opaque id (maintainer side: the scorer joins by real ids).

    Args:
        opaque: (m,) opaque ids of a private Problem.
        real_ids: (n,) the real ids they were made from (e.g. the task split's sample ids).
    Raises:
        KeyError: an opaque id that none of ``real_ids`` maps to.
    """
    back = dict(zip(renaming(secret).ids(np.asarray(real_ids)).tolist(), np.asarray(real_ids).tolist()))
    return np.asarray([back[s] for s in np.asarray(opaque).tolist()], dtype=object)


def private_config(method_name: str, suite: str = "quick", overrides: tuple[str, ...] = ()):
    """The composed run config of a private run of one registered method (checked options)."""
    from medstrata.methods import list_methods
    from medstrata.registry import UnknownNameError
    from medstrata.runner import app, preflight

    if not isinstance(method_name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", method_name) \
            or method_name not in list_methods():
        raise UnknownNameError(f"unknown method {method_name!r}; the private tier runs registered methods "
                               f"only: {', '.join(list_methods())}")
    cfg = app.compose([f"suite={suite}", f"methods=[{method_name}]", *overrides])
    preflight.check_options(cfg)
    if str(cfg.embedding) not in PRIVATE_EMBEDDINGS:
        raise SpecError(f"embedding={cfg.embedding}: the private tier runs with {', '.join(PRIVATE_EMBEDDINGS)} only "
                        "(an embedding computed from the pixels alone, such as pixel_pca, can be matched to the "
                        "official images, which gives the source index away)")
    return cfg


def run_private(method_name: str, secret: str, suite: str = "quick", progress: bool = False,
                overrides: tuple[str, ...] = ()) -> list[dict]:
    """Run registered method ``method_name`` on the private tasks of ``suite`` and score it.

    Builds (or reuses) every private task and reference model (and JTT's identification model when
    the method reads it) with the public path's jobs, fits the method on each task's val and scores
    its test slices with the suite's ``n_slices``, ``discovery_states`` and scorer, exactly as
    ``medstrata run``, except that the method sees :func:`private_problem` views. ``overrides`` are
    ``medstrata run`` overrides (e.g. ``("seeds=[0]",)``: the private tier keeps their number, not
    their values). Results are cached under ``MEDSTRATA_HOME`` like a run's (keys include the
    renaming). Returns :func:`private_records`, one per (task, discovery state, stratum).
    """
    from medstrata import paths
    from medstrata.runner import preflight
    from medstrata.runner.runner import build_and_train, discover

    check_secret(secret)
    cfg = private_config(method_name, suite, overrides)
    jobs = private_plan(secret, cfg)
    preflight.check_jobs(cfg, jobs)
    paths.check_home()
    models = build_and_train(cfg, jobs, progress)
    kept = _gated(cfg, jobs, models)
    records = discover(cfg, kept, models, progress, rename=renaming(secret))
    return private_records(_with_mitigation(cfg, kept, models, records, secret, progress), kept, secret)


def _with_mitigation(cfg, jobs: list[dict], models: dict, records: list[dict], secret: str,
                     progress: bool) -> list[dict]:
    """``records`` with the suite's mitigation fields (``gap_closed`` etc.), the method refitted on
    renamed views exactly as in discovery; unchanged when the suite says ``mitigation: none``."""
    import pandas as pd

    from medstrata.runner.mitigation import attach_mitigation

    merged, _ = attach_mitigation(pd.DataFrame(records), jobs, models, cfg, progress, rename=renaming(secret))
    return merged.to_dict(orient="records")


def _gated(cfg, jobs: list[dict], models: dict[str, dict]) -> list[dict]:
    """The jobs whose cell passes the validity gates (suite key ``gates: exclude``), measured as in
    ``medstrata run``; the failing cells are counted on stdout, never described."""
    from medstrata.errors import SpecError
    from medstrata.validity import run as V

    mode = str(cfg.suite.get("gates", "exclude"))
    if mode == "report":
        return jobs
    excluded = V.announce(V.cards_for_run(jobs, models), mode, describe=False)
    kept = [job for job in jobs if V.cell_key(job) not in excluded]
    if not kept:
        raise SpecError(f"every private task of suite {cfg.suite.name} failed the validity gates")
    return kept


def private_records(records: list[dict], jobs: list[dict], secret: str) -> list[dict]:
    """Records fit to publish: the :data:`PUBLIC_COLUMNS` of each, ``tier="private"``,
    ``secret_id`` (:func:`secret_id`), ``task_id``
    and ``result_id`` as :func:`alias` es, ``seed`` the replicate number (0 .. n - 1) of the job, not
    its seed, and ``random_state = seed + 1000 r`` on that number (r: the discovery state).

    Dropped: ``stratum_params`` and ``task_strata`` (the spec), ``model_id``, ``run_id``,
    ``prevalence``, ``n``, ``n_members``, ``n_half_a`` (counts name a subclass), matched slice
    indices, the real seed and random state."""
    replicate = {job["task_id"]: int(job["replicate"]) for job in jobs}
    key_id = secret_id(secret)
    out = []
    for rec in records:
        r = (int(rec["random_state"]) - int(rec["seed"])) // 1000
        rep = replicate[rec["task_id"]]
        public = {k: rec[k] for k in PUBLIC_COLUMNS if k in rec}
        out.append({"tier": "private", "secret_id": key_id, "task_id": alias(secret, "task", rec["task_id"]),
                    "result_id": alias(secret, "result", rec["result_id"]), "seed": rep,
                    "random_state": rep + 1000 * r, **public})
    return out
