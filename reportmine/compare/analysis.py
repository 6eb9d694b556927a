"""Join index tests with the reference standard and compute every table of the page.

An *index test* is one reader of the same nodes: a Y-Net checkpoint (scores → calls at a
cut-off), a file of precomputed predictions, or the original reports (calls, with
indeterminate ones handled by the chosen rule). Everything here is pure computation on
already-loaded data; loading and scoring live in :mod:`reportmine.compare.run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..stats import (
    auc_clustered,
    auc_delong,
    auc_difference_clustered,
    clustered_metrics,
    compare_paired,
    compare_paired_clustered,
    delong_test,
    diagnostic_metrics,
    mcnemar,
    two_by_two,
    youden,
)
from ..stats.baseline import calibration, compare_categorical, compare_continuous, decision_curve

REPORTS_NAME = "Original ultrasound reports"
UNITS = ("node", "patient")


def plural(noun: str) -> str:
    """English plural of a unit name: node → nodes, lesion → lesions, lymph node → lymph nodes."""
    noun = noun.strip()
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


@dataclass(frozen=True)
class ClusterName:
    """What one cluster of the clustered analysis is, in the singular and the plural: a patient,
    a patient or near-duplicate group, or (a manifest without patient ids) a group of
    near-duplicate images."""

    one: str = "patient"
    many: str = "patients"


PATIENTS = ClusterName()
PATIENTS_OR_DUPLICATES = ClusterName("patient or near-duplicate group", "patients or near-duplicate groups")
DUPLICATE_GROUPS = ClusterName("group of near-duplicate images", "groups of near-duplicate images")

REFERENCE_DEFAULT = "pathology"  # the toolkit's own domain (the demo's reference standard)
REFERENCE_NAMES = {"tirads": "TI-RADS category", "ti-rads": "TI-RADS category", "ti_rads": "TI-RADS category"}


def reference_name(value: str | None) -> str:
    """The reference standard as the page names it: a manifest's ``label_source`` value
    (``tirads`` → "TI-RADS category", any other value as written), or pathology."""
    text = " ".join(str(value or "").split())
    if not text:
        return REFERENCE_DEFAULT
    return REFERENCE_NAMES.get(text.lower(), text)


def choose_unit(unit: str | None, clusters: pd.Series, units: str = "units",
                groups: ClusterName = PATIENTS) -> tuple[bool, str]:
    """(clustered?, why). ``unit`` None decides from the data: clustered when a cluster (a
    patient, or a group of near-duplicate images: ``groups`` names them) holds several units."""
    n_clusters = clusters.nunique()
    repeats = n_clusters < len(clusters)
    one_unit = units[:-1] if units.endswith("s") else units
    why = "patient_id repeats" if groups == PATIENTS else f"several {units} share a {groups.one}"
    counted = f"{len(clusters)} {units} from {n_clusters} {groups.many}"
    if unit is None:
        if repeats:
            return True, f"{why} ({counted}): clustered analysis"
        if groups == DUPLICATE_GROUPS:
            return False, f"no patient_id and no near-duplicate images among the {units}: independent"
        return False, f"one {one_unit} per {groups.one} (or no patient_id): independent"
    if unit not in UNITS:
        raise ValueError(f"--unit must be node or patient, got {unit!r}")
    if unit == "patient":
        return True, f"--unit patient ({counted})"
    return False, f"--unit node: {units} treated as independent" + (f" although {why} ({counted})" if repeats else "")


@dataclass
class IndexTest:
    key: str
    name: str
    kind: str  # "model", "predictions" or "reports"
    ids: list[str]
    calls: np.ndarray  # 1 / 0 / -1 (indeterminate), aligned with ids
    scores: np.ndarray | None = None
    threshold: float | None = None
    threshold_rule: str = ""
    source: str = ""
    sha256: str = ""
    dice: np.ndarray | None = None
    mask_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Flow:
    manifest_rows: int
    excluded_by_label: int
    in_split: int
    split: str
    with_result: dict[str, int]
    missing: dict[str, list[str]]
    extra: dict[str, list[str]]  # ids in a source that are not in the split
    duplicates: dict[str, list[str]]
    indeterminate_reports: int


def choose_threshold(rule: str, test_labels, test_scores, oof: pd.DataFrame | None) -> tuple[float, str]:
    """(cut-off, description). Positive when score > cut-off (pROC's convention)."""
    if rule == "youden-oof":
        if oof is None or oof.empty:
            raise ValueError("--threshold youden-oof needs the training run's oof_predictions.csv "
                             "(or use --threshold youden-test or a number)")
        cut = youden(oof["label"].astype(int), oof["prob_malignant"])
        return cut.threshold, (f"Youden-optimal on the training run's out-of-fold predictions "
                               f"(n = {len(oof)}): {cut.threshold:.4f}")
    if rule == "youden-test":
        cut = youden(test_labels, test_scores)
        return cut.threshold, (f"Youden-optimal on this test set: {cut.threshold:.4f} "
                               "(optimistic: chosen on the data it is evaluated on, as the paper did)")
    try:
        value = float(rule)
    except ValueError:
        raise ValueError(f"--threshold must be youden-oof, youden-test or a number, got {rule!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"--threshold {value} must be a probability between 0 and 1")
    return value, f"fixed at {value:g}"


def calls_from_scores(scores: np.ndarray, threshold: float) -> np.ndarray:
    return (scores > threshold).astype(int)


def binary_calls(calls: np.ndarray, rule: str) -> np.ndarray:
    """Indeterminate (−1) mapped by the rule; "exclude" keeps −1 (dropped pairwise later)."""
    if rule == "positive":
        return np.where(calls == -1, 1, calls)
    if rule == "negative":
        return np.where(calls == -1, 0, calls)
    return calls


@dataclass
class Comparison:
    gold: pd.Series  # id -> 1/0 over the split
    tests: list[IndexTest]
    indeterminate_rule: str
    flow: Flow
    meta: pd.DataFrame  # manifest metadata over the split (index id)
    conf_level: float = 0.95
    clusters: pd.Series | None = None  # id -> patient id (own id where none), joined with near duplicates
    clustered: bool = False  # Table 3 and the paired tests account for the clusters
    unit_name: str = "node"
    unit_reason: str = ""
    cluster_name: ClusterName = PATIENTS  # what one cluster is (the page's captions)
    reference: str = REFERENCE_DEFAULT  # the reference standard's name (the page's captions)

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.nunique()) if self.clusters is not None else len(self.gold)

    def test_frame(self, test: IndexTest) -> pd.DataFrame:
        frame = pd.DataFrame({"id": test.ids, "call": test.calls})
        if test.scores is not None:
            frame["score"] = test.scores
        frame["gold"] = frame["id"].map(self.gold)
        frame = frame.dropna(subset=["gold"]).astype({"gold": int})
        if self.clusters is not None:
            frame["cluster"] = frame["id"].map(self.clusters)
        return frame

    # -------------------------------------------------------------- Table 3
    def accuracy_rows(self) -> list[dict]:
        rows = []
        for t in self.tests:
            f = self.test_frame(t)
            calls = ["malignant" if c == 1 else "benign" if c == 0 else "indeterminate" for c in f["call"]]
            table = two_by_two(f["gold"].tolist(), calls, indeterminate=self.indeterminate_rule)
            metrics = diagnostic_metrics(table, conf_level=self.conf_level)
            auc = clustered = clustered_auc = None
            if t.scores is not None and f["gold"].nunique() == 2:
                auc = auc_delong(f["gold"].to_numpy(), f["score"].to_numpy(), self.conf_level)
            if self.clustered:
                clustered = clustered_metrics(f["gold"].tolist(), calls, f["cluster"].tolist(),
                                              indeterminate=self.indeterminate_rule, conf_level=self.conf_level)
                if auc is not None:
                    clustered_auc = auc_clustered(f["gold"].to_numpy(), f["score"].to_numpy(),
                                                  f["cluster"].to_numpy(), self.conf_level)
            rows.append({"test": t, "table": table, "metrics": metrics, "auc": auc, "clustered": clustered,
                         "clustered_auc": clustered_auc})
        return rows

    # -------------------------------------------------------------- paired comparisons
    def paired_rows(self) -> list[dict]:
        rows = []
        for a, b in combinations(self.tests, 2):
            fa, fb = self.test_frame(a).set_index("id"), self.test_frame(b).set_index("id")
            common = fa.index.intersection(fb.index)
            ca = binary_calls(fa.loc[common, "call"].to_numpy(), self.indeterminate_rule)
            cb = binary_calls(fb.loc[common, "call"].to_numpy(), self.indeterminate_rule)
            keep = (ca != -1) & (cb != -1)
            gold = fa.loc[common, "gold"].to_numpy()[keep]
            ca, cb = ca[keep], cb[keep]
            row = {"a": a, "b": b, "n": int(keep.sum()), "paired": None, "overall": None, "delong": None,
                   "clustered": None, "clustered_auc": None}
            clusters = fa.loc[common, "cluster"].to_numpy()[keep] if self.clustered else None
            if keep.sum() and len(set(gold)) == 2:
                row["paired"] = compare_paired(gold, ca, cb)
                row["overall"] = mcnemar(int(((ca == 1) & (cb == 0)).sum()), int(((ca == 0) & (cb == 1)).sum()),
                                         a=int(((ca == 1) & (cb == 1)).sum()), d=int(((ca == 0) & (cb == 0)).sum()))
                if clusters is not None:
                    row["clustered"] = compare_paired_clustered(gold, ca, cb, clusters, self.conf_level)
            if a.scores is not None and b.scores is not None and keep.sum() and len(set(gold)) == 2:
                sa = fa.loc[common, "score"].to_numpy()[keep]
                sb = fb.loc[common, "score"].to_numpy()[keep]
                row["delong"] = delong_test(gold, sa, sb, self.conf_level)
                if clusters is not None:
                    row["clustered_auc"] = auc_difference_clustered(gold, sa, sb, clusters, self.conf_level)
            rows.append(row)
        return rows

    # -------------------------------------------------------------- Table 2
    def location_table(self) -> pd.DataFrame | None:
        if not {"level", "side"} <= set(self.meta.columns):
            return None
        frame = self.meta[["level", "side"]].copy()
        frame["pathology"] = self.gold.map({1: "malignant", 0: "benign"})
        table = pd.crosstab([frame["level"], frame["side"]], frame["pathology"], margins=True, margins_name="total")
        return table

    def baseline_rows(self) -> list[dict]:
        rows = []
        groups = self.gold.map({1: "malignant", 0: "benign"}).to_numpy()
        for col in ("sex", "machine", "level", "side"):
            if col in self.meta.columns:
                counts, test = compare_categorical(self.meta[col].to_numpy(), groups)
                rows.append({"variable": col, "kind": "categorical", "counts": counts, "test": test})
        if "age" in self.meta.columns:
            ages = pd.to_numeric(self.meta["age"], errors="coerce").to_numpy()
            summary, test = compare_continuous(ages, groups)
            rows.append({"variable": "age", "kind": "continuous", "summary": summary, "test": test})
        return rows

    # -------------------------------------------------------------- subgroups
    def subgroup_rows(self) -> list[dict]:
        rows = []
        for col in ("machine", "level", "sex"):
            if col not in self.meta.columns:
                continue
            for value in sorted(self.meta[col].dropna().astype(str).unique()):
                ids = set(self.meta.index[self.meta[col].astype(str) == value])
                for t in self.tests:
                    f = self.test_frame(t)
                    f = f[f["id"].isin(ids)]
                    c = binary_calls(f["call"].to_numpy(), self.indeterminate_rule)
                    g = f["gold"].to_numpy()
                    keep = c != -1
                    c, g = c[keep], g[keep]
                    pos, neg = int((g == 1).sum()), int((g == 0).sum())
                    rows.append({
                        "variable": col, "value": value, "test": t.name, "n": int(len(g)),
                        "n_malignant": pos, "n_benign": neg,
                        "sensitivity": float(((c == 1) & (g == 1)).sum() / pos) if pos else math.nan,
                        "specificity": float(((c == 0) & (g == 0)).sum() / neg) if neg else math.nan,
                        "accuracy": float((c == g).mean()) if len(g) else math.nan,
                    })
        return rows

    # -------------------------------------------------------------- figures' data
    def calibration_of(self, t: IndexTest):
        f = self.test_frame(t)
        return calibration(f["gold"], f["score"])

    def decision_curve_of(self, t: IndexTest):
        f = self.test_frame(t)
        return decision_curve(f["gold"], f["score"])
