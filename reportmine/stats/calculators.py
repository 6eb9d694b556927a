"""The calculators' file mode: one row per unit (node) in a .csv/.xlsx, columns named by the user.

``benchmark metrics / mcnemar / roc FILE --label-col … --test-col … [--cluster-col …]`` call
the functions here. Each reads the named columns (errors name the file, row and column),
computes the unclustered (MedCalc-style) results, and with a cluster column the clustered
ones too (:mod:`reportmine.stats.clustered`, :mod:`reportmine.stats.clustered_roc`). Results
are small frozen objects with ``summary()`` (the text the command prints) and ``as_dict()``
(its ``--json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.labels import (
    BENIGN,
    BINARY_SPELLINGS,
    CALL_SPELLINGS,
    INDETERMINATE,
    MALIGNANT,
    LabelError,
    label_codes,
)
from ..core.tables import read_table
from .clustered import (
    ClusteredMcNemar,
    ClusteredMetrics,
    CorrelatedProportionsTest,
    _durkalski,
    _obuchowski,
    clustered_metrics,
)
from .clustered_roc import (
    ClusteredAUC,
    ClusteredAUCDifference,
    auc_clustered,
    auc_difference_clustered,
)
from .clusters import cluster_codes
from .diagnostic import DiagnosticMetrics, diagnostic_metrics, two_by_two
from .paired import McNemarResult, mcnemar
from .roc import AUCResult, Cutoff, DeLongTest, auc_delong, delong_test, youden

# ------------------------------------------------------------------ reading columns

def _read(path: str | Path, columns: Sequence[str | None]):
    path = Path(path)
    wanted = [c for c in columns if c]
    frame = read_table(path, columns=wanted)
    if frame.empty:
        raise InputError(f"{path}: no data rows")
    return path, frame


def _where(path: Path, row, column: str) -> str:
    return f"{path}: row {row}, column {column!r}"


def _binary_column(path: Path, frame, column: str, indeterminate_ok: bool) -> np.ndarray:
    """1 / 0 (and −1 for an indeterminate call where allowed) per row."""
    values = frame[column].fillna("").astype(str).to_numpy(dtype=object)
    try:
        return label_codes(values, column, indeterminate=indeterminate_ok).astype(np.int64)
    except LabelError as exc:
        row = frame.index[exc.position]
        shown = repr(frame[column].loc[row]) if str(exc.value).strip() else "empty"
        allowed = CALL_SPELLINGS if indeterminate_ok else BINARY_SPELLINGS
        raise InputError(f"{_where(path, row, column)}: {shown} is not {allowed}") from None


def _cluster_column(path: Path, frame, column: str) -> np.ndarray:
    values = frame[column].astype(str).str.strip()
    empty = values.index[(values == "") | frame[column].isna()]
    if len(empty):
        raise InputError(f"{_where(path, empty[0], column)}: empty cluster id")
    return values.to_numpy(dtype=object)


def _score_column(path: Path, frame, column: str) -> np.ndarray:
    text = frame[column].fillna("").astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").astype(float)
    bad = values.index[~np.isfinite(values.to_numpy())]
    if len(bad):
        shown = repr(frame[column].loc[bad[0]]) if text.loc[bad[0]] else "empty"
        raise InputError(f"{_where(path, bad[0], column)}: {shown} is not a finite number")
    return values.to_numpy()


def _apply_rule(calls: np.ndarray, rule: str) -> np.ndarray:
    if rule == "positive":
        return np.where(calls == -1, 1, calls)
    if rule == "negative":
        return np.where(calls == -1, 0, calls)
    return calls


def _two_classes(path: Path, labels: np.ndarray, column: str) -> None:
    if labels.min() == labels.max():
        raise InputError(f"{path}: column {column!r} holds a single class; need diseased and non-diseased rows")


# ------------------------------------------------------------------ metrics

@dataclass(frozen=True)
class FileMetrics:
    unclustered: DiagnosticMetrics
    clustered: ClusteredMetrics | None
    n_units: int
    source: dict

    def summary(self) -> str:
        lines = [f"{self.source['file']}: {self.n_units} rows"]
        if self.clustered is not None:
            lines += ["", "Clustered by " + repr(self.source["cluster_col"]) + ":", self.clustered.summary(), "",
                      "Unclustered (rows treated as independent):"]
        lines.append(self.unclustered.summary())
        return "\n".join(lines)

    def as_dict(self) -> dict:
        t = self.unclustered.table
        node = self.unclustered.as_dict()
        payload = {"table": {"tp": t.tp, "fp": t.fp, "fn": t.fn, "tn": t.tn}, "n_units": self.n_units,
                   "conf_level": self.unclustered.conf_level, "source": self.source}
        if self.clustered is None:
            return node | payload
        clustered = {key: {k: v for k, v in value.items() if k != "conf_level"}
                     for key, value in self.clustered.as_dict().items()}
        return clustered | {"n_clusters": self.clustered.n_clusters, "unclustered": node,
                            "notes": list(self.clustered.notes)} | payload


def metrics_from_table(path: str | Path, label_col: str, test_col: str, cluster_col: str | None = None, *,
                       indeterminate: str = "exclude", ci_method: str | None = None,
                       conf_level: float = 0.95) -> FileMetrics:
    """Sen, Spe, Acc, PPV, NPV (and LRs) of one test column against a label column."""
    path, frame = _read(path, [label_col, test_col, cluster_col])
    labels = _binary_column(path, frame, label_col, indeterminate_ok=False)
    calls = _binary_column(path, frame, test_col, indeterminate_ok=True)
    names = np.array([BENIGN, MALIGNANT, INDETERMINATE])[np.where(calls == -1, 2, calls)]
    table = two_by_two(labels, names.tolist(), indeterminate=indeterminate)
    if table.n_diseased == 0 or table.n_healthy == 0:
        raise InputError(f"{path}: column {label_col!r} needs diseased and non-diseased rows (with a decided call)")
    unclustered = diagnostic_metrics(table, ci_method=ci_method, conf_level=conf_level)
    clustered = None
    if cluster_col:
        clusters = _cluster_column(path, frame, cluster_col)
        clustered = clustered_metrics(labels, names.tolist(), clusters, indeterminate=indeterminate,
                                      conf_level=conf_level)
    source = {"file": str(path), "label_col": label_col, "test_col": test_col, "cluster_col": cluster_col,
              "indeterminate": indeterminate}
    return FileMetrics(unclustered, clustered, len(frame), source)


# ------------------------------------------------------------------ McNemar

def _mcnemar_dict(r: McNemarResult) -> dict:
    return {"b": r.b, "c": r.c, "a": r.a, "d": r.d,
            "exact": {"p_value": r.exact.p_value, "method": r.exact.method},
            "chi2": {"statistic": r.chi2.statistic, "p_value": r.chi2.p_value, "method": r.chi2.method},
            "chi2_corrected": {"statistic": r.chi2_corrected.statistic, "p_value": r.chi2_corrected.p_value,
                               "method": r.chi2_corrected.method},
            "reported": r.reported}


@dataclass(frozen=True)
class PairedPart:
    """One paired comparison (all rows, diseased rows or non-diseased rows)."""

    name: str
    mcnemar: McNemarResult
    clustered: ClusteredMcNemar | None
    obuchowski: CorrelatedProportionsTest | None

    def summary(self) -> str:
        what = {"overall": "all rows: positive calls", "sensitivity": "sensitivity: positive calls on diseased rows",
                "specificity": "specificity: correct negative calls on non-diseased rows (+ = correct)"}
        lines = [f"{what.get(self.name, self.name)}:", "  " + self.mcnemar.summary().replace("\n", "\n  ")]
        if self.clustered is not None:
            lines += [f"  clustered: {self.clustered.summary()}", f"  clustered: {self.obuchowski.summary()}"]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        out = _mcnemar_dict(self.mcnemar)
        if self.clustered is not None:
            out["clustered"] = self.clustered.as_dict()
            out["obuchowski"] = self.obuchowski.as_dict()
        return out


@dataclass(frozen=True)
class FilePaired:
    overall: PairedPart
    sensitivity: PairedPart | None
    specificity: PairedPart | None
    n_units: int
    n_clusters: int | None
    source: dict

    def summary(self) -> str:
        head = f"{self.source['file']}: {self.n_units} rows" + (
            f" in {self.n_clusters} clusters ({self.source['cluster_col']!r})" if self.n_clusters else "")
        parts = [p for p in (self.overall, self.sensitivity, self.specificity) if p is not None]
        return "\n".join([head, *(p.summary() for p in parts)])

    def as_dict(self) -> dict:
        out = self.overall.as_dict() | {"n_units": self.n_units, "source": self.source}
        if self.n_clusters is not None:
            out["n_clusters"] = self.n_clusters
        for part in (self.sensitivity, self.specificity):
            if part is not None:
                out[part.name] = part.as_dict()
        return out


def mcnemar_from_table(path: str | Path, test_cols: Sequence[str], label_col: str | None = None,
                       cluster_col: str | None = None, *, indeterminate: str = "exclude",
                       conf_level: float = 0.95) -> FilePaired:
    """McNemar (and with a cluster column Durkalski's and Obuchowski's tests) for two test columns.

    With a label column, sensitivity (diseased rows) and specificity (non-diseased rows) are
    compared too. Rows where either test is indeterminate are dropped (``exclude``) or the
    call counted as ``positive`` / ``negative``.
    """
    if len(test_cols) != 2:
        raise InputError("give two test columns (--test-col twice)")
    path, frame = _read(path, [*test_cols, label_col, cluster_col])
    t1 = _apply_rule(_binary_column(path, frame, test_cols[0], True), indeterminate)
    t2 = _apply_rule(_binary_column(path, frame, test_cols[1], True), indeterminate)
    keep = (t1 != -1) & (t2 != -1)
    if not keep.any():
        raise InputError(f"{path}: no row with a decided call in both test columns")
    labels = _binary_column(path, frame, label_col, False)[keep] if label_col else None
    clusters = _cluster_column(path, frame, cluster_col) if cluster_col else None
    codes, k = (None, None)
    if clusters is not None:
        # K counts every cluster in the file, also those whose rows were all dropped
        all_codes, k = cluster_codes(clusters)
        codes = all_codes[keep]
    t1, t2 = t1[keep], t2[keep]

    def part(name: str, x1: np.ndarray, x2: np.ndarray, domain: np.ndarray) -> PairedPart:
        counts = {"a": int((x1[domain] & x2[domain]).sum()), "b": int((x1[domain] & (1 - x2[domain])).sum()),
                  "c": int(((1 - x1[domain]) & x2[domain]).sum()),
                  "d": int(((1 - x1[domain]) & (1 - x2[domain])).sum())}
        clustered = obuchowski = None
        if codes is not None:
            clustered = _durkalski(x1, x2, domain, codes, k)
            obuchowski = _obuchowski(x1.astype(float), x2.astype(float), domain, codes, k, conf_level)
        return PairedPart(name, mcnemar(**counts), clustered, obuchowski)

    every = np.ones(t1.shape[0], dtype=bool)
    overall = part("overall", t1, t2, every)
    sens = spec = None
    if labels is not None:
        _two_classes(path, labels, label_col)
        sens = part("sensitivity", t1, t2, labels == 1)
        spec = part("specificity", 1 - t1, 1 - t2, labels == 0)
    source = {"file": str(path), "test_cols": list(test_cols), "label_col": label_col, "cluster_col": cluster_col,
              "indeterminate": indeterminate, "rows_used": int(keep.sum())}
    return FilePaired(overall, sens, spec, int(t1.shape[0]), k, source)


# ------------------------------------------------------------------ ROC

@dataclass(frozen=True)
class Marker:
    name: str
    auc: AUCResult
    cutoff: Cutoff
    clustered: ClusteredAUC | None

    def as_dict(self) -> dict:
        a, cut = self.auc, self.cutoff
        out = {"name": self.name, "auc": a.auc, "ci_low": a.ci_low, "ci_high": a.ci_high, "variance": a.variance,
               "method": a.method, "youden_threshold": cut.threshold,
               "youden_threshold_as_observed_score": cut.threshold_as_observed_score,
               "sensitivity": cut.sensitivity, "specificity": cut.specificity,
               "n_cases": a.n_cases, "n_controls": a.n_controls}
        if self.clustered is not None:
            out["clustered"] = self.clustered.as_dict()
        return out


@dataclass(frozen=True)
class FileROC:
    markers: tuple[Marker, ...]
    delong: DeLongTest | None
    clustered_test: ClusteredAUCDifference | None
    source: dict

    def summary(self) -> str:
        lines = []
        for m in self.markers:
            lines += [f"{m.name}: {m.auc.summary()}", f"  Youden {m.cutoff.summary()}"]
            if m.clustered is not None:
                lines.append(f"  clustered: {m.clustered.summary()}")
        if self.delong is not None:
            a, b = (m.name for m in self.markers)
            lines.append(f"{a} vs {b}: {self.delong.summary()}")
            if self.clustered_test is not None:
                lines.append(f"{a} vs {b}, clustered: {self.clustered_test.summary()}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        out = {"markers": [m.as_dict() for m in self.markers], "source": self.source}
        if self.delong is not None:
            t = self.delong
            out["delong_test"] = {"z": t.z, "p_value": t.p_value, "difference": t.difference,
                                  "ci_low": t.ci_low, "ci_high": t.ci_high, "method": t.method}
        if self.clustered_test is not None:
            out["clustered_test"] = self.clustered_test.as_dict()
        return out


def roc_from_table(path: str | Path, label_col: str, score_cols: Sequence[str], cluster_col: str | None = None,
                   conf_level: float = 0.95) -> FileROC:
    """AUC (DeLong; with a cluster column also Obuchowski's clustered AUC), Youden cut-off,
    and for two score columns the paired DeLong and clustered tests."""
    if not 1 <= len(score_cols) <= 2:
        raise InputError("give one or two score columns (--score-col)")
    path, frame = _read(path, [label_col, *score_cols, cluster_col])
    labels = _binary_column(path, frame, label_col, indeterminate_ok=False)
    _two_classes(path, labels, label_col)
    clusters = _cluster_column(path, frame, cluster_col) if cluster_col else None
    scores = {col: _score_column(path, frame, col) for col in score_cols}
    markers = tuple(
        Marker(col, auc_delong(labels, s, conf_level), youden(labels, s),
               auc_clustered(labels, s, clusters, conf_level) if clusters is not None else None)
        for col, s in scores.items())
    delong = clustered_test = None
    if len(scores) == 2:
        sa, sb = scores.values()
        delong = delong_test(labels, sa, sb, conf_level)
        if clusters is not None:
            clustered_test = auc_difference_clustered(labels, sa, sb, clusters, conf_level)
    source = {"file": str(path), "label_col": label_col, "score_cols": list(score_cols), "cluster_col": cluster_col}
    return FileROC(markers, delong, clustered_test, source)
