"""Validity cards as Markdown tables and a console report (the loud part of the gates)."""

from __future__ import annotations

import math

from medstrata.validity import gates


def _pts(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def _auc(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.3f}"


def _dose(d: dict | None) -> str:
    if not d:
        return "not measured"
    steps = ", ".join(f"{s:g}: {_pts(g)}" for s, g in zip(d["severities"], d["gaps"]))
    return f"{d['knob']} {steps} ({'monotone' if d['monotone'] else 'NOT monotone'}, ρ={_auc(d['spearman'])})"


def _recover(r: dict) -> str:
    if not r:
        return "n/a"
    return f"{_auc(r.get('oracle'))} / {_auc(r.get('random'))}"


def card_rows(card: dict) -> list[str]:
    """One Markdown table row per stratum of ``card``."""
    rows = []
    for s in card["strata_cards"]:
        h = s["harm"]
        shortcut = f"{_auc(s['shortcut_auroc_max'])} ({s['shortcut_statistic'] or '-'})"
        gated = "" if s["origin"] == gates.CONSTRUCTED else " (not gated)"
        verdict = "PASS" if card["passes"] else "FAIL"
        rows.append(f"| {card['cell']} | {s['name']} | {s['origin']} | {_pts(h['mean'])} [{_pts(h['low'])}, "
                    f"{_pts(h['high'])}] | {_auc(s['acc_member'])} / {_auc(s['acc_rest'])} | {shortcut}{gated} "
                    f"| {_auc(s['pca_auroc_mean'])} | {_pts(s['error_share_test'])} % | {_recover(s['recover'])} "
                    f"| {_dose(s['dose'])} | {verdict} |")
    return rows


HEADER = ("| task | stratum | origin | harm, pts: mean [95 % t-CI over seeds] | val acc member / rest of class "
          "| best shortcut AUROC, worst seed (statistic) | PCA-probe AUROC | share of test errors "
          "| P@10 oracle / random | dose-response: gap pts per severity | gates |")


def markdown(cards: list[dict], title: str, note: str = "", fail_word: str = "EXCLUDED") -> str:
    """A Markdown page: the definitions in short, the table, and every failure with its reason
    (prefixed ``fail_word``: EXCLUDED when failing tasks leave the suite)."""
    seeds = sorted({s for c in cards for s in c["seeds"]})
    lines = [f"# {title}", "", note, "" if note else "",
             f"Seeds {seeds}; harm, shortcut and PCA probe on **val**; error share on test (descriptive). "
             f"Gates: harm >= {100 * gates.HARM_MIN:.0f} pts with the t-interval's lower bound > 0; best "
             f"global-statistic AUROC <= {gates.SHORTCUT_MAX} for constructed strata (natural official "
             "subclasses: reported, not gated). See `src/medstrata/validity/` for the definitions.", "",
             HEADER, "|" + "---|" * 11]
    for c in cards:
        lines += card_rows(c)
    failed = [c for c in cards if not c["passes"]]
    lines += ["", f"**{len(cards) - len(failed)} of {len(cards)} tasks pass both gates.**", ""]
    for c in failed:
        lines.append(f"- {fail_word} {c['cell']}: " + "; ".join(c["failures"]))
    return "\n".join(line for line in lines if line is not None) + "\n"


def console(cards: list[dict]) -> str:
    """Plain-text verdicts, one line per task; failures spelled out."""
    out = []
    for c in cards:
        if c["passes"]:
            out.append(f"PASS     {c['cell']}")
        else:
            out.append(f"EXCLUDED {c['cell']}: " + "; ".join(c["failures"]))
    return "\n".join(out)
