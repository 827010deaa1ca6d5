"""The reproduction table of docs/models.md, built from rows of ``bench_reference_models.py``.

Not part of the test run.

    python benchmarks/reproduction_table.py rows1.json rows2.log ...

Each input is a JSON list of rows (``--out``) or a log with one JSON row per line (its stderr).
Per dataset (default model only): test ACC, AUC and, for volumes, balanced accuracy as mean ± std
(ddof=1) over the seeds, beside the MedMNIST v2 reference, the test majority rate, the epochs run, the
train wall time (max over seeds, with the 1-min load average seen) and the process CPU time divided by
the thread count (what the wall time would be on idle cores; max over seeds), and a verdict.

Targets: 2-D, mean test ACC >= reference ACC - 1.5 points (3 points for BreastMNIST and RetinaMNIST,
whose test sets are small and vary most between seeds); 3-D, mean AUC >= 0.85 and mean balanced
accuracy >= 0.70; speed, CPU s / threads <= 120 s.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

#: MedMNIST v2 (Yang et al., Scientific Data 2023), test (ACC, AUC). 2-D: ResNet-18 (28), from
#: /work/shared/REFERENCES.md. 3-D: ResNet-18 + 3D, see docs/models.md on how sure these are.
REFERENCE = {
    "bloodmnist": (0.958, 0.998), "organamnist": (0.935, 0.997), "pneumoniamnist": (0.854, 0.944),
    "breastmnist": (0.863, 0.901), "retinamnist": (0.524, 0.717),
    "adrenalmnist3d": (0.721, 0.827), "vesselmnist3d": (0.877, 0.874),
}
BAND = {"breastmnist": 0.03, "retinamnist": 0.03}
ORDER = list(REFERENCE)


def load_rows(paths: list[Path]) -> list[dict]:
    rows = []
    for p in paths:
        text = p.read_text().strip()
        if text.startswith("["):
            rows += json.loads(text)
        else:
            rows += [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [r for r in rows if r["spec"]["arch"] != "resnet18"]


def _ms(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"


def verdict(flag: str, rs: list[dict]) -> str:
    acc, auc = np.mean([r["test_acc"] for r in rs]), np.mean([r["test_auc"] for r in rs])
    fails = []
    if len(rs) < 3:
        fails.append(f"only {len(rs)} seed(s)")
    if flag.endswith("3d"):
        bal = np.mean([r["test_bal_acc"] for r in rs])
        if auc < 0.85 or bal < 0.70:
            fails.append(f"AUC {auc:.3f} / bal. acc {bal:.3f} below 0.85 / 0.70")
    elif acc < REFERENCE[flag][0] - BAND.get(flag, 0.015):
        fails.append(f"ACC {acc:.3f} below {REFERENCE[flag][0] - BAND.get(flag, 0.015):.3f}")
    slow = max(r["train_cpu_s"] / r.get("threads", 2) for r in rs)
    if slow > 120:
        fails.append(f"CPU s / 2 = {slow:.0f} > 120")
    return "pass" if not fails else "**FAIL**: " + "; ".join(fails)


def table(rows: list[dict]) -> str:
    out = ["| dataset | seeds | test ACC | test AUC | bal. acc (3-D) | v2 ACC / AUC | target | majority "
           "| epochs | wall s (max; load) | CPU s / 2 (max) | verdict |", "|" + "---|" * 12]
    for flag in ORDER:
        rs = sorted((r for r in rows if r["flag"] == flag), key=lambda r: r["seed"])
        if not rs:
            out.append(f"| {flag} | – | – | | | {REFERENCE[flag][0]} / {REFERENCE[flag][1]} | | | | | | **not measured** |")
            continue
        ref = REFERENCE[flag]
        target = "AUC ≥ 0.85, bal ≥ 0.70" if flag.endswith("3d") else f"ACC ≥ {ref[0] - BAND.get(flag, 0.015):.3f}"
        bal = _ms([r["test_bal_acc"] for r in rs]) if flag.endswith("3d") else "–"
        worst = max(rs, key=lambda r: r["train_wall_s"])
        out.append(
            f"| {flag} | {','.join(str(r['seed']) for r in rs)} | {_ms([r['test_acc'] for r in rs])} | "
            f"{_ms([r['test_auc'] for r in rs])} | {bal} | {ref[0]} / {ref[1]} | {target} | "
            f"{rs[0]['test_majority_rate']:.3f} | {rs[0]['epochs']} | {worst['train_wall_s']:.0f} "
            f"({worst['loadavg_1min_before']:.0f}–{worst['loadavg_1min_after']:.0f}) | "
            f"{max(r['train_cpu_s'] / r.get('threads', 2) for r in rs):.0f} | {verdict(flag, rs)} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    print(table(load_rows(paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
