"""Write the comparison: index.html (one self-contained file), tables.xlsx, tables/*.csv,
figures/*.png and run.json. The HTML comes from a jinja2 template with autoescaping, so
report text shown on the page can never inject markup."""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ..core.provenance import versions
from ..stats import roc_curve, summarize_overlap
from . import figures
from .analysis import Comparison

CI_FOOTNOTE = ("95 % confidence intervals: Clopper–Pearson (exact) for sensitivity, specificity and accuracy; "
               "standard logit interval (Mercaldo et al. 2007) for PPV and NPV, Clopper–Pearson at 0 % or 100 %; "
               "log method (Simel, Samsa & Matchar 1991) for likelihood ratios; DeLong for the AUC.")


def pct(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def num(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def pval(p: float) -> str:
    if p is None or math.isnan(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table3(comparison: Comparison):
    rows, frame = [], []
    for r in comparison.accuracy_rows():
        m, t, auc = r["metrics"], r["test"], r["auc"]
        cells = []
        for key in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
            p = getattr(m, key)
            cells.append({"key": key, "estimate": p.estimate, "low": p.ci_low, "high": p.ci_high,
                          "text": f"{pct(p.estimate)} ({pct(p.ci_low)}–{pct(p.ci_high)})",
                          "counts": f"{p.x}/{p.n}"})
        for key in ("lr_positive", "lr_negative"):
            q = getattr(m, key)
            cells.append({"key": key, "estimate": q.estimate, "low": q.ci_low, "high": q.ci_high,
                          "text": f"{num(q.estimate)} ({num(q.ci_low)}–{num(q.ci_high)})", "counts": ""})
        auc_cell = None
        if auc is not None:
            auc_cell = {"key": "auc", "estimate": auc.auc, "low": auc.ci_low, "high": auc.ci_high,
                        "text": f"{num(auc.auc, 3)} ({num(auc.ci_low, 3)}–{num(auc.ci_high, 3)})", "counts": ""}
        rows.append({"name": t.name, "cells": cells, "auc": auc_cell, "table": r["table"],
                     "threshold": t.threshold_rule, "notes": list(m.notes)})
        record = {"index test": t.name, "TP": r["table"].tp, "FP": r["table"].fp, "FN": r["table"].fn,
                  "TN": r["table"].tn}
        for c in cells + ([auc_cell] if auc_cell else []):
            record[c["key"]] = c["estimate"]
            record[c["key"] + "_ci_low"] = c["low"]
            record[c["key"] + "_ci_high"] = c["high"]
        record["cut-off"] = t.threshold_rule
        frame.append(record)
    return rows, pd.DataFrame(frame)


def _paired(comparison: Comparison):
    rows, frame = [], []
    for r in comparison.paired_rows():
        if r["paired"] is None:
            continue
        overall, p = r["overall"], r["paired"]
        item = {"a": r["a"].name, "b": r["b"].name, "n": r["n"],
                "overall": overall, "sens": p.sensitivity, "spec": p.specificity, "pc": p, "delong": r["delong"]}
        rows.append(item)
        for label, res in (("overall agreement", overall), ("sensitivity (malignant nodes)", p.sensitivity),
                           ("specificity (benign nodes)", p.specificity)):
            chosen = getattr(res, res.reported)
            frame.append({"test 1": r["a"].name, "test 2": r["b"].name, "comparison": label, "b": res.b, "c": res.c,
                          "statistic": chosen.statistic, "p_value": chosen.p_value, "method": chosen.method})
        if r["delong"] is not None:
            d = r["delong"]
            frame.append({"test 1": r["a"].name, "test 2": r["b"].name, "comparison": "AUC (paired DeLong)",
                          "b": None, "c": None, "statistic": d.z, "p_value": d.p_value, "method": d.method,
                          "difference": d.difference, "difference_ci_low": d.ci_low, "difference_ci_high": d.ci_high})
    return rows, pd.DataFrame(frame)


def _dictionary_table(provenance: dict):
    matches = provenance.get("report_matches")
    if not matches:
        return None, None
    counter = Counter()
    for entries in matches:
        counter.update(set(entries))
    rows = []
    for key, n in counter.most_common():
        term, category, line = key.split("\x00")
        rows.append({"term": term, "category": category, "dictionary line": line, "reports matched": n})
    frame = pd.DataFrame(rows)
    return rows, frame


def _figures(comparison: Comparison, accuracy, provenance: dict, fig_dir: Path) -> dict[str, str]:
    out = {}
    scored = [t for t in comparison.tests if t.scores is not None]
    curves, points = [], []
    for t in scored:
        f = comparison.test_frame(t)
        curve = roc_curve(f["gold"], f["score"])
        a = next(r["auc"] for r in accuracy if r["test"] is t)
        curves.append({"name": t.name, "fpr": 1 - curve.specificity, "tpr": curve.sensitivity,
                       "auc": a.auc, "lo": a.ci_low, "hi": a.ci_high})
    for r in accuracy:
        m = r["metrics"]
        marker = "s" if r["test"].kind == "reports" else "o"
        colour = "#111111" if r["test"].kind == "reports" else None
        point = {"name": f"{r['test'].name} (operating point)", "fpr": 1 - m.specificity.estimate,
                 "tpr": m.sensitivity.estimate, "marker": marker}
        if colour:
            point["colour"] = colour
        points.append(point)
    pngs = {}
    if curves or points:
        pngs["roc"] = figures.roc_figure(curves, points)
    with_dice = [(t.name, np.asarray(t.dice, dtype=float)) for t in comparison.tests
                 if t.dice is not None and np.isfinite(np.asarray(t.dice, dtype=float)).any()]
    if with_dice:
        pngs["dice"] = figures.dice_figure(with_dice)
        pngs["examples"] = _examples(comparison, provenance)
    pngs["confusion"] = figures.confusion_figure([(r["test"].name, (r["table"].tp, r["table"].fp, r["table"].fn,
                                                                    r["table"].tn)) for r in accuracy])
    if scored:
        cal = []
        for t in scored:
            c = comparison.calibration_of(t)
            cal.append({"name": t.name, "predicted": c.bin_mean_predicted, "observed": c.bin_observed,
                        "brier": c.brier})
        pngs["calibration"] = figures.calibration_figure(cal)
        dcs = []
        for t in scored:
            d = comparison.decision_curve_of(t)
            dcs.append({"name": t.name, "thresholds": d.thresholds, "net_benefit": d.net_benefit,
                        "treat_all": d.treat_all})
        pngs["decision"] = figures.decision_figure(dcs, float(comparison.gold.mean()))
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, png in pngs.items():
        if png is None:
            continue
        (fig_dir / f"{name}.png").write_bytes(png)
        out[name] = _b64(png)
    return out


def _examples(comparison: Comparison, provenance: dict) -> bytes | None:
    from PIL import Image

    t = next(t for t in comparison.tests if t.dice is not None and np.isfinite(np.asarray(t.dice, float)).any())
    frame = pd.DataFrame({"id": t.ids, "dice": np.asarray(t.dice, float), "mask": t.mask_files}).dropna(subset=["dice"])
    frame = frame[frame["mask"].astype(str) != ""].sort_values("dice").reset_index(drop=True)
    if frame.empty:
        return None
    picks = [("worst", 0), ("median", len(frame) // 2), ("best", len(frame) - 1)]
    examples = []
    for title, k in picks:
        row = frame.iloc[k]
        with Image.open(provenance["images"][row["id"]]) as im:
            image = np.asarray(im.convert("L"))
        ref = None
        for path in provenance["ref_masks"].get(row["id"], []):
            with Image.open(path) as m:
                arr = np.asarray(m.convert("L")) > 0
            ref = arr if ref is None else ref | arr
        with Image.open(row["mask"]) as m:
            pred = np.asarray(m.convert("L")) > 0
        examples.append({"title": f"{title}: {row['id']} (Dice {row['dice']:.3f})", "image": image,
                         "reference": ref, "predicted": pred})
    return figures.examples_figure(examples)


def _errors(comparison: Comparison, provenance: dict, limit: int = 12) -> list[dict]:
    texts = provenance.get("report_texts") or {}
    reports = next((t for t in comparison.tests if t.kind == "reports"), None)
    if reports is None or not texts:
        return []
    rows = []
    for i, call in zip(reports.ids, reports.calls):
        gold = comparison.gold.get(i)
        if gold is None or call == gold:
            continue
        kind = "false positive" if call == 1 else "false negative" if call == 0 else "indeterminate"
        rows.append({"id": i, "kind": kind, "pathology": "malignant" if gold == 1 else "benign",
                     "text": str(texts.get(i, ""))})
    return rows[:limit]


def write_outputs(comparison: Comparison, provenance: dict, options, out: Path, work: Path) -> None:
    accuracy = comparison.accuracy_rows()
    table3, table3_frame = _table3(comparison)
    paired, paired_frame = _paired(comparison)
    dictionary, dictionary_frame = _dictionary_table(provenance)
    location = comparison.location_table()
    baseline = comparison.baseline_rows()
    subgroups = pd.DataFrame(comparison.subgroup_rows())
    figs = _figures(comparison, accuracy, provenance, out / "figures")
    flow = comparison.flow
    dice_summaries = []
    for t in comparison.tests:
        if t.dice is not None and np.isfinite(np.asarray(t.dice, float)).any():
            dice_summaries.append((t.name, summarize_overlap(np.asarray(t.dice, float), n_boot=1000, seed=options.seed)))
    record = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "manifest": provenance["manifest"], "manifest_sha256": provenance["manifest_sha256"],
        "split": flow.split, "seed": options.seed, "indeterminate_rule": options.indeterminate,
        "threshold_rule": options.threshold, "index_tests": [
            {"name": t.name, "kind": t.kind, "source": t.source, "sha256": t.sha256, "cut_off": t.threshold,
             "cut_off_rule": t.threshold_rule} for t in comparison.tests],
        "synthetic_data": options.synthetic,
    }
    baseline_frame = []
    for b in baseline:
        if b["kind"] == "categorical":
            for cat, counts in b["counts"].items():
                baseline_frame.append({"variable": b["variable"], "value": cat, **counts,
                                       "test": b["test"].method, "p_value": b["test"].p_value})
        else:
            for g, s in b["summary"].items():
                baseline_frame.append({"variable": b["variable"], "value": f"median [Q1, Q3] ({g})",
                                       g: f"{s['median']:.1f} [{s['q1']:.1f}, {s['q3']:.1f}]", "n": s["n"],
                                       "test": b["test"].method, "p_value": b["test"].p_value})
    flow_frame = pd.DataFrame(
        [{"step": "nodes in the manifest", "n": flow.manifest_rows},
         {"step": "excluded by label filter", "n": flow.excluded_by_label},
         {"step": f"in the split ({flow.split})", "n": flow.in_split}]
        + [{"step": f"with a result: {name}", "n": n} for name, n in flow.with_result.items()]
        + [{"step": "indeterminate report calls", "n": flow.indeterminate_reports}])
    sheets = {"flow": flow_frame, "table3_accuracy": table3_frame, "paired_tests": paired_frame,
              "table2_baseline": pd.DataFrame(baseline_frame), "subgroups": subgroups}
    if dictionary_frame is not None:
        sheets["table1_dictionary"] = dictionary_frame
    if location is not None:
        sheets["table2_location"] = location.reset_index()
    (out / "tables").mkdir(parents=True, exist_ok=True)
    from ..core.outputs import escape_cell

    with pd.ExcelWriter(out / "tables.xlsx", engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe = frame.map(escape_cell) if not frame.empty else frame
            safe.to_excel(writer, sheet_name=name[:31], index=False)
            safe.to_csv(out / "tables" / f"{name}.csv", index=False)
    from ..core.outputs import json_safe

    (out / "run.json").write_text(json.dumps(json_safe(record), indent=2, default=str, allow_nan=False),
                                  encoding="utf-8")  # strict JSON: NaN written as null
    env = Environment(loader=PackageLoader("reportmine.compare", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True))
    env.filters.update(pct=pct, num=num, pval=pval)
    html = env.get_template("page.html.j2").render(
        title=options.title, record=record, flow=flow, table3=table3, paired=paired, dictionary=dictionary,
        location=location, baseline=baseline, subgroups=subgroups.to_dict("records") if not subgroups.empty else [],
        figures=figs, dice_summaries=dice_summaries, errors=_errors(comparison, provenance),
        reports_present=provenance["reports_present"], ci_footnote=CI_FOOTNOTE, options=options,
        tests=comparison.tests, n_malignant=int(comparison.gold.sum()), n_benign=int((comparison.gold == 0).sum()))
    (out / "index.html").write_text(html, encoding="utf-8")
