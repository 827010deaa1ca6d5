"""The validity card inside ``medstrata run``: measured from the run's own tasks and reference models
(on val), gated before the discovery methods run, and written to the run folder.

Suite key ``gates``: ``exclude`` (default) leaves a failing task out of the run (no methods, no
ranking) and says so loudly; ``report`` only reports (the smoke suite, whose 2-epoch models are not
meant to be harmful, and the full suite, whose mild severities are dose-response points, not tasks).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from medstrata.validity import card as C
from medstrata.validity import gates, render

GATE_MODES = ("exclude", "report")


def cell_key(job: dict) -> str:
    """The cell of a job (dataset, target, strata) as a canonical string; seeds share it."""
    return json.dumps({"dataset": job["dataset"], "target": job.get("target"),
                       "strata": [[k, p] for k, p in job["strata"]]}, sort_keys=True)


def cards_for_run(planned: list[dict], models: dict) -> dict[str, dict]:
    """{cell key: card} from the run's jobs (each with ``task_id``) and {task id: model record}."""
    measures = {job["task_id"]: C.measure_seed(job["task_id"], models[job["task_id"]]["model_dir"]) for job in planned}
    return cards_from_measures(planned, measures)


def cards_from_measures(planned: list[dict], measures: dict[str, list[dict]]) -> dict[str, dict]:
    """{cell key: card} from the run's jobs and {task id: :func:`~medstrata.validity.card.measure_seed`
    records of that job} (measured where the job ran)."""
    per_cell: dict[str, dict[int, list[dict]]] = {}
    for job in planned:
        per_cell.setdefault(cell_key(job), {})[int(job["seed"])] = measures[job["task_id"]]
    return {key: C.assemble(json.loads(key), seeds) for key, seeds in per_cell.items()}


def attach_recover(cards: dict[str, dict], planned: list[dict], results: pd.DataFrame,
                   metric: str = "p_at_10") -> None:
    """Fill each stratum's ``recover`` with the oracle / random mean ``metric`` of this run."""
    if results.empty:
        return
    task_cell = {job["task_id"]: cell_key(job) for job in planned}
    res = results.assign(cell_key=results.task_id.map(task_cell))
    for key, card in cards.items():
        sub = res[res.cell_key == key]
        for s in card["strata_cards"]:
            rows = sub[(sub.stratum_column == s["column"]) & (sub.stratum_id == s["stratum_id"])]
            s["recover"] = {m: float(rows[rows.method == m][metric].mean()) for m in ("oracle", "random")
                            if (rows.method == m).any()}
            s["recover"]["metric"] = metric


def attach_dose(cards: dict[str, dict]) -> None:
    """Dose-response across the run's cells that differ only in one single stratum's knob (full suite)."""
    from medstrata.strata import declaration

    groups: dict[tuple, list[dict]] = {}
    for card in cards.values():
        if len(card["strata"]) == 1:
            kind, params = card["strata"][0]
            conf = declaration(kind)
            if conf["knob"] in params:
                rest = {k: v for k, v in params.items() if k != conf["knob"]}
                groups.setdefault((card["dataset"], card["target"], kind, json.dumps(rest, sort_keys=True)), []).append(card)
    for (_, _, kind, _), members in groups.items():
        conf = declaration(kind)
        levels = [lv for lv in conf["severities"] if any(c["strata"][0][1][conf["knob"]] == lv for c in members)]
        if len(levels) < 2:
            continue
        by_level = {c["strata"][0][1][conf["knob"]]: c for c in members}
        for s in members[0]["strata_cards"]:
            g = [_gap(by_level[lv], s["column"], s["stratum_id"]) for lv in levels]
            dose = {"knob": conf["knob"], "severities": levels, "gaps": g, **gates.dose_monotone(g)}
            for c in members:
                for t in c["strata_cards"]:
                    if (t["column"], t["stratum_id"]) == (s["column"], s["stratum_id"]):
                        t["dose"] = dose


def _gap(card: dict, column: str, stratum_id: int) -> float:
    for s in card["strata_cards"]:
        if (s["column"], s["stratum_id"]) == (column, stratum_id):
            return s["harm"]["mean"]
    return float("nan")


def announce(cards: dict[str, dict], mode: str, describe: bool = True) -> set[str]:
    """Print every failing task loudly; returns the cell keys to exclude (empty in ``report`` mode).
    ``describe=False`` (the private tier's held-out tasks) prints how many fail, not which or why."""
    if mode not in GATE_MODES:
        from medstrata.errors import SpecError

        raise SpecError(f"suite.gates={mode!r}; expected one of {GATE_MODES}")
    failed = {k for k, c in cards.items() if not c["passes"]}
    if failed:
        verb = "EXCLUDED from this run" if mode == "exclude" else "FAILS the validity gates (reported only)"
        bar = "!" * 78
        print(f"\n{bar}\n{len(failed)} of {len(cards)} task(s) {verb}" + (":" if describe else
              " (held-out tasks: which and why is not printed)"))
        for k in sorted(failed) if describe else ():
            print(f"  - {cards[k]['cell']}: " + "; ".join(cards[k]["failures"]))
        print(bar + "\n")
    return failed if mode == "exclude" else set()


def write(folder: Path, cards: dict[str, dict], suite: str, mode: str, excluded: set[str]) -> None:
    """``validity.json`` (cards + verdicts) and ``validity.md`` (the table) in the run folder."""
    items = list(cards.values())
    note = (f"Measured by `medstrata run` on this run's seeds and models; gates mode `{mode}`; "
            f"{len(excluded)} task(s) excluded from the ranking.")
    word = "EXCLUDED" if mode == "exclude" else "FAILS (reported only)"
    (folder / "validity.md").write_text(render.markdown(items, f"Validity of suite `{suite}` (this run)", note, word))
    payload = {"gates_mode": mode, "excluded": sorted(cards[k]["cell"] for k in excluded),
               "cards": C.to_jsonable(items)}
    (folder / "validity.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")


def append_to_summary(folder: Path) -> None:
    """Append the run's validity table to ``summary.md`` (so it travels with published baselines)."""
    body = (folder / "validity.md").read_text().split("\n", 1)[1]
    with open(folder / "summary.md", "a") as f:
        f.write("\n## Validity of every task (val, this run's seeds; see validity.md)\n" + body)
