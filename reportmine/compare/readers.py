"""The page's reader-study section (``benchmark compare … --readers READINGS``).

READINGS is a long-format .csv/.xlsx, one row per reading, with the columns ``test``,
``reader``, ``case``, ``truth`` and ``rating`` (:mod:`reportmine.stats.mrmc`). The section
shows each reader's ROC curve per test with the scored models' curves as a reference, the
Obuchowski–Rockette table (test means with CIs, differences with CIs and p; random readers
and random cases, jackknife covariance, Hillis' degrees of freedom) and the variance
components in a supplementary table.

Case ids that are also ids of the comparison must carry the same truth as the manifest's
reference standard; a mismatch is refused with one line naming the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.provenance import file_sha256
from ..stats import auc_delong, roc_curve
from ..stats.mrmc import MRMCResult, ReaderStudy, or_analysis, read_reader_study
from . import figures
from .analysis import Comparison

COVARIANCE = "jackknife"
FIXED = "none"


@dataclass(frozen=True)
class ReaderSection:
    """What the template and tables.xlsx need."""

    file: str
    sha256: str
    result: MRMCResult
    sentence: str
    model_reference: str  # how the models' ROC curves were computed (which cases)
    figure_png: bytes

    def frames(self) -> dict[str, pd.DataFrame]:
        """Sheets for tables.xlsx / tables/*.csv."""
        r = self.result
        tests = pd.DataFrame([m.as_dict() for m in r.test_means])
        diffs = pd.DataFrame([d.as_dict() for d in r.differences])
        readers = pd.DataFrame([{"test": t, "reader": name, "auc": r.reader_values[i][j]}
                                for i, t in enumerate(r.tests) for j, name in enumerate(r.readers)])
        reader_diffs = pd.DataFrame([d.as_dict() for d in r.reader_differences])
        components = pd.DataFrame([{"component": k, "estimate": v}
                                   for k, v in r.variance_components.as_dict().items()])
        g = r.global_test
        components = pd.concat([components, pd.DataFrame([
            {"component": "global F", "estimate": g.statistic}, {"component": "df1", "estimate": g.df1},
            {"component": "df2 (Hillis)", "estimate": g.df2}, {"component": "p", "estimate": g.p_value}])])
        return {"reader_study_tests": tests, "reader_study_differences": diffs, "reader_study_readers": readers,
                "reader_study_reader_diffs": reader_diffs, "reader_study_variance": components}

    def record(self, shown_file: str) -> dict:
        """The run.json entry."""
        return {"file": shown_file, "sha256": self.sha256, "method": self.sentence, "model_reference":
                self.model_reference, "analysis": self.result.as_dict()}


def _check_truth(study: ReaderStudy, comparison: Comparison, path: Path) -> None:
    for case, truth in zip(study.cases, study.truth):
        gold = comparison.gold.get(case)
        if gold is not None and int(gold) != int(truth):
            raise InputError(f"{path}: case {case!r} has truth {int(truth)} in the readings but the manifest's "
                             f"reference standard is {'malignant' if gold == 1 else 'benign'}")


def _model_curves(study: ReaderStudy, comparison: Comparison) -> tuple[list[dict], str]:
    """The scored models' ROC curves: on the readers' cases when every one has a score, else on
    the whole split (and the caption says so)."""
    curves, where = [], set()
    cases = list(study.cases)
    for t in comparison.tests:
        if t.scores is None:
            continue
        frame = comparison.test_frame(t).set_index("id")
        if set(cases) <= set(frame.index):
            labels, scores = study.truth, frame.loc[cases, "score"].to_numpy(float)
            where.add("the readers' cases")
        else:
            labels, scores = frame["gold"].to_numpy(), frame["score"].to_numpy(float)
            where.add(f"the whole split ({len(frame)} {comparison.unit_name}s; not every reader case has a score)")
        if len(set(labels.tolist())) < 2:
            continue
        curve = roc_curve(labels, scores)
        auc = auc_delong(labels, scores)
        curves.append({"name": t.name, "fpr": 1 - curve.specificity, "tpr": curve.sensitivity, "auc": auc.auc})
    return curves, " and ".join(sorted(where)) if where else ""


def _reader_curves(study: ReaderStudy) -> list[dict]:
    out = []
    for i, test in enumerate(study.tests):
        for j, reader in enumerate(study.readers):
            curve = roc_curve(study.truth, study.ratings[i, j])
            out.append({"test": test, "reader": reader, "fpr": 1 - curve.specificity, "tpr": curve.sensitivity})
    return out


def reader_figure(study: ReaderStudy, result: MRMCResult, models: list[dict]) -> bytes:
    """Each reader's empirical ROC curve (points joined) per test, the models' curves in black."""
    plt = figures._plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls="--")
    means = {m.test: m for m in result.test_means}
    for k, test in enumerate(study.tests):
        colour = figures.COLOURS[k % len(figures.COLOURS)]
        first = True
        for c in _reader_curves(study):
            if c["test"] != test:
                continue
            m = means[test]
            label = (f"{test}: readers' mean AUC {m.estimate:.3f} ({m.ci_low:.3f}–{m.ci_high:.3f})"
                     if first else None)
            ax.plot(c["fpr"], c["tpr"], color=colour, lw=0.9, alpha=0.75, marker="o", ms=2.5, label=label)
            first = False
    styles = ["-", "--", ":", "-."]
    for k, c in enumerate(models):
        ax.plot(c["fpr"], c["tpr"], color="#111111", lw=1.6, ls=styles[k % len(styles)],
                label=f"{c['name']} (model): AUC {c['auc']:.3f}")
    figures.finish_roc_axes(ax)
    return figures._png(fig)


def reader_section(path: str | Path, comparison: Comparison) -> ReaderSection:
    """Read and analyse the readings (AUC, jackknife, random readers and cases)."""
    path = Path(path)
    study = read_reader_study(path)
    _check_truth(study, comparison, path)
    try:
        result = or_analysis(study, metric="auc", covariance=COVARIANCE, fixed=FIXED,
                             conf_level=comparison.conf_level)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    models, where = _model_curves(study, comparison)
    figure = reader_figure(study, result, models)
    reference = f"computed on {where}" if where else "no scored model"
    return ReaderSection(str(path), file_sha256(path), result, result.method_sentence, reference, figure)


def simulate_readings(case_ids, truth, *, readers: int = 4, seed: int = 0,
                      tests: tuple[str, str] = ("unaided", "with Y-Net (simulated aid)"),
                      separation: tuple[float, float] = (1.2, 1.7)) -> pd.DataFrame:
    """A synthetic factorial reader study on these cases (Roe & Metz 1997 style): 5-point
    ratings from a latent score with case, reader × case and reading noise; the second test's
    readers separate the classes better (``separation``). For the demo only."""
    rng = np.random.default_rng(seed)
    y = np.asarray(truth, dtype=int)
    n = y.shape[0]
    case_effect = rng.normal(0.0, 0.5, n)
    names = [f"reader {k + 1}" for k in range(readers)]
    cut_points = np.array([-0.4, 0.3, 0.9, 1.5])
    rows = []
    for reader in names:
        skill = rng.normal(0.0, 0.15)
        reader_case = rng.normal(0.0, 0.5, n)
        for test, shift in zip(tests, separation):
            latent = (shift + skill) * y + case_effect + reader_case + rng.normal(0.0, 0.6, n)
            ratings = np.searchsorted(cut_points, latent) + 1
            rows += [{"test": test, "reader": reader, "case": c, "truth": int(t), "rating": int(r)}
                     for c, t, r in zip(case_ids, y, ratings)]
    return pd.DataFrame(rows)


def write_demo_readings(manifest: str | Path, path: str | Path, *, seed: int = 0) -> Path:
    """The demo's simulated reader study on the manifest's test split (4 readers, without and
    with a simulated aid), written to ``path`` as long-format CSV."""
    frame = pd.read_csv(manifest, dtype={"ln_id": str})
    test = frame[frame["split"] == "test"]
    readings = simulate_readings(test["ln_id"].tolist(), (test["label"] == "malignant").astype(int).tolist(),
                                 seed=seed)
    readings.to_csv(path, index=False)
    return Path(path)
