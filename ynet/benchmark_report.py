"""The benchmark's statistics and tables, from saved fit records (pure: no training, no timing).

Every number goes through the toolkit's own statistics (:mod:`reportmine.stats`) with the
split group (patient, or group of near-duplicate images) as the cluster: images of one group
are not independent, so the CIs and tests count groups, never images.

Per model: AUC with Obuchowski's clustered variance; Dice mean and median, each with a
cluster-bootstrap CI, quartiles and the share of near-total failures (Dice < 0.1). Y-Net
against each other model on the same images: the clustered paired AUC difference
(Obuchowski), the mean per-image Dice difference with a cluster-bootstrap CI, and a
Wilcoxon signed-rank test over groups (the mean difference within each group: one value per
independent unit). As a sensitivity analysis, the same AUCs and AUC differences stratified
by outer fold (pairs compared only within a fold; per-fold clustered variances combined).
The per-image DeLong and Wilcoxon numbers of earlier versions stay, labelled "per image".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm, wilcoxon

from reportmine.core.labels import label_name
from reportmine.core.outputs import atomic_path
from reportmine.stats import (
    auc_clustered,
    auc_delong,
    auc_difference_clustered,
    cluster_bootstrap,
    delong_test,
    summarize_overlap,
    weighted_median,
    weighted_ratio,
)

from .peers import NAMES

MODEL_KEYS = ("n_images", "n_clusters", "auc", "auc_ci_low", "auc_ci_high", "auc_image_ci_low", "auc_image_ci_high",
              "dice_mean", "dice_mean_ci_low", "dice_mean_ci_high", "dice_median", "dice_median_ci_low",
              "dice_median_ci_high", "dice_q1", "dice_q3", "dice_below_0_1", "auc_fold_stratified",
              "auc_fold_stratified_ci_low", "auc_fold_stratified_ci_high", "epochs", "best_epochs", "epochs_run",
              "capped_fits", "params", "train_images_per_s", "train_runs", "train_images_per_s_timed",
              "infer_images_per_s_b1", "infer_images_per_s_b8",
              "infer_runs_b1", "infer_runs_b8", "peak_rss_mb", "hardware")
PAIRED_KEYS = ("n_images", "n_clusters", "auc_diff", "auc_diff_ci_low", "auc_diff_ci_high", "auc_diff_p",
               "dice_mean_diff", "dice_mean_diff_ci_low", "dice_mean_diff_ci_high", "dice_cluster_wilcoxon_p",
               "auc_diff_fold_stratified", "auc_diff_fold_stratified_ci_low", "auc_diff_fold_stratified_ci_high",
               "auc_diff_fold_stratified_p",
               # per image (units treated as independent; kept for comparison with earlier tables)
               "auc_difference", "ci_low", "ci_high", "p_value", "dice_wilcoxon_p", "dice_difference_median")
N_BOOT = 2000
FAILED_BELOW = 0.1  # a Dice below this is a near-total segmentation failure
SHARED_ABOVE = 0.25  # cores used by other processes, on average over a fit, that make it shared
INNER_ONLY_MARKER = "INNER_ONLY"  # in NAME_cv/: this folder is an option round (``--inner-only``)


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def oof_frame(records: Sequence[dict], groups: Mapping[str, str]) -> pd.DataFrame:
    """One model's out-of-fold predictions indexed by image id: label, prob, dice, fold, group."""
    ids = [i for r in records for i in r["ids"]]
    return pd.DataFrame({"label": [v for r in records for v in r["labels"]],
                         "prob": _floats(v for r in records for v in r["probs"]),
                         "dice": _floats(v for r in records for v in r["dices"]),
                         "fold": [r["fold"] for r in records for _ in r["ids"]],
                         "group": [groups.get(i, i) for i in ids]}, index=pd.Index(ids, name="id"))


def oof_predictions(records: Sequence[dict]) -> pd.DataFrame:
    """One model's out-of-fold predictions, a row per image in fold order: ``ln_id``, ``label``,
    ``prob_malignant`` (empty for a segmentation-only model), ``dice`` and ``fold`` — what
    ``benchmark compare --predictions`` reads."""
    return pd.DataFrame([{"ln_id": i, "label": label_name(y), "prob_malignant": p, "dice": d, "fold": r["fold"]}
                         for r in sorted(records, key=lambda r: r["fold"])
                         for i, y, p, d in zip(r["ids"], r["labels"], r["probs"], r["dices"])])


# ------------------------------------------------------------------ statistics


def _wald(estimate: float, variance: float) -> tuple[float, float, float]:
    """(CI low, CI high, two-sided p) of a normal estimate with this variance."""
    if not np.isfinite(variance) or variance < 0:
        return math.nan, math.nan, math.nan
    if variance == 0:
        return estimate, estimate, 1.0 if estimate == 0 else 0.0
    se = math.sqrt(variance)
    half = float(norm.ppf(0.975)) * se
    return estimate - half, estimate + half, float(2 * norm.sf(abs(estimate) / se))


def _fold_stratified(frame: pd.DataFrame, estimate) -> tuple[float, float, float, float]:
    """Σ w_k θ_k / Σ w_k over outer folds, w_k = cases × controls of fold k (the AUC of the pairs
    compared within a fold), with the folds' clustered variances combined (folds hold
    disjoint groups, so they are independent). ``estimate(fold_frame)`` gives (θ_k, var_k)."""
    weights, values, variances = [], [], []
    for _, part in frame.groupby("fold"):
        positives, negatives = int((part["label"] == 1).sum()), int((part["label"] == 0).sum())
        if positives and negatives and part["group"].nunique() > 1:
            theta, var = estimate(part)
            weights.append(positives * negatives)
            values.append(theta)
            variances.append(var)
    if not weights:
        return math.nan, math.nan, math.nan, math.nan
    w = np.array(weights, dtype=float) / sum(weights)
    theta = float(w @ np.array(values))
    low, high, p = _wald(theta, float((w ** 2) @ np.array(variances)))
    return theta, low, high, p


def model_statistics(frame: pd.DataFrame, seed: int) -> dict:
    """Clustered AUC, Dice mean and median with cluster-bootstrap CIs, for one model."""
    out = dict.fromkeys(MODEL_KEYS)
    out.update(n_images=len(frame), n_clusters=int(frame["group"].nunique()))
    y, p = frame["label"].to_numpy(), frame["prob"].to_numpy()
    if len(frame) and np.isfinite(p).all() and len(set(y)) == 2:
        a = auc_clustered(y, p, frame["group"].to_numpy())
        image = auc_delong(y, p)
        out.update(auc=a.auc, auc_ci_low=a.ci_low, auc_ci_high=a.ci_high, auc_image_ci_low=image.ci_low,
                   auc_image_ci_high=image.ci_high)
        theta, low, high, _ = _fold_stratified(frame, lambda f: _auc_and_variance(f))
        out.update(auc_fold_stratified=theta, auc_fold_stratified_ci_low=low, auc_fold_stratified_ci_high=high)
    dices = frame[np.isfinite(frame["dice"])]
    if len(dices) and dices["group"].nunique() > 1:
        d, groups = dices["dice"].to_numpy(), dices["group"].to_numpy()
        mean = cluster_bootstrap(weighted_ratio(d), groups, n_boot=N_BOOT, seed=seed)
        median = cluster_bootstrap(weighted_median(d), groups, n_boot=N_BOOT, seed=seed)
        quartiles = summarize_overlap(d, n_boot=1, seed=seed)
        out.update(dice_mean=mean.estimate, dice_mean_ci_low=mean.ci_low, dice_mean_ci_high=mean.ci_high,
                   dice_median=median.estimate, dice_median_ci_low=median.ci_low, dice_median_ci_high=median.ci_high,
                   dice_q1=quartiles.q1, dice_q3=quartiles.q3, dice_below_0_1=float((d < FAILED_BELOW).mean()))
    return out


def _auc_and_variance(frame: pd.DataFrame) -> tuple[float, float]:
    a = auc_clustered(frame["label"].to_numpy(), frame["prob"].to_numpy(), frame["group"].to_numpy())
    return a.auc, a.variance


def paired_statistics(ynet: pd.DataFrame, peer: pd.DataFrame, seed: int) -> dict:
    """Y-Net − peer on the images both scored, clusters respected (see the module doc)."""
    both = ynet.join(peer[["prob", "dice"]].add_suffix("_peer"), how="inner")
    out = dict.fromkeys(PAIRED_KEYS)
    out.update(n_images=len(both), n_clusters=int(both["group"].nunique()))
    y, groups = both["label"].to_numpy(), both["group"].to_numpy()
    pa, pb = both["prob"].to_numpy(), both["prob_peer"].to_numpy()
    if len(both) and np.isfinite(pa).all() and np.isfinite(pb).all() and len(set(y)) == 2:
        c = auc_difference_clustered(y, pa, pb, groups)
        out.update(auc_diff=c.difference, auc_diff_ci_low=c.ci_low, auc_diff_ci_high=c.ci_high, auc_diff_p=c.p_value)

        def difference(f: pd.DataFrame) -> tuple[float, float]:
            r = auc_difference_clustered(f["label"].to_numpy(), f["prob"].to_numpy(), f["prob_peer"].to_numpy(),
                                         f["group"].to_numpy())
            return r.difference, r.variance

        theta, low, high, p = _fold_stratified(both, difference)
        out.update(auc_diff_fold_stratified=theta, auc_diff_fold_stratified_ci_low=low,
                   auc_diff_fold_stratified_ci_high=high, auc_diff_fold_stratified_p=p)
        t = delong_test(y, pa, pb)
        out.update(auc_difference=t.difference, ci_low=t.ci_low, ci_high=t.ci_high, p_value=t.p_value)
    d = both[np.isfinite(both["dice"]) & np.isfinite(both["dice_peer"])]
    if len(d):
        diff = (d["dice"] - d["dice_peer"]).to_numpy()
        out["dice_difference_median"] = float(np.median(diff))
        out["dice_wilcoxon_p"] = float(wilcoxon(d["dice"], d["dice_peer"]).pvalue) if (diff != 0).any() else 1.0
        if d["group"].nunique() > 1:
            boot = cluster_bootstrap(weighted_ratio(diff), d["group"].to_numpy(), n_boot=N_BOOT, seed=seed)
            out.update(dice_mean_diff=boot.estimate, dice_mean_diff_ci_low=boot.ci_low,
                       dice_mean_diff_ci_high=boot.ci_high)
            per_group = pd.Series(diff, index=d["group"].to_numpy()).groupby(level=0).mean().to_numpy()
            out["dice_cluster_wilcoxon_p"] = float(wilcoxon(per_group).pvalue) if (per_group != 0).any() else 1.0
    return out


def _median_run(runs) -> float | None:
    return float(np.median(runs)) if runs else None


def summarize(fits: Mapping[str, list[dict]], speeds: Mapping[str, dict], groups: Mapping[str, str], *,
              max_epochs: int, seed: int, hw: str) -> dict:
    """The ``_cv.json`` payload (models, paired, per_fold) from the saved fits."""
    models, per_fold, frames = {}, {}, {}
    for name, records in fits.items():
        frame = frames[name] = oof_frame(records, groups)
        entry = model_statistics(frame, seed)
        speed = speeds.get(name, {})
        seconds = sum(r["train_seconds"] for r in records)
        entry.update(epochs=max_epochs, best_epochs=[r["best_epoch"] for r in records],
                     epochs_run=[r["epochs_run"] for r in records],
                     capped_fits=sum(bool(r.get("capped")) for r in records), params=speed.get("params"),
                     train_images_per_s=sum(r["train_images"] for r in records) / seconds if seconds else None,
                     train_runs=speed.get("train_runs"), train_images_per_s_timed=_median_run(speed.get("train_runs")),
                     infer_runs_b1=speed.get("infer_runs_b1"), infer_runs_b8=speed.get("infer_runs_b8"),
                     infer_images_per_s_b1=_median_run(speed.get("infer_runs_b1")),
                     infer_images_per_s_b8=_median_run(speed.get("infer_runs_b8")),
                     peak_rss_mb=max(r["peak_rss_mb"] for r in records), hardware=hw)
        models[name] = {k: entry[k] for k in MODEL_KEYS}
        fold_auc, fold_dice = [], []
        for _, part in frame.groupby("fold"):
            if np.isfinite(part["prob"]).all() and part["label"].nunique() == 2:
                fold_auc.append(auc_delong(part["label"].to_numpy(), part["prob"].to_numpy()).auc)
            if np.isfinite(part["dice"]).any():
                fold_dice.append(float(np.nanmedian(part["dice"])))
        per_fold[name] = {"auc": fold_auc, "dice_median": fold_dice, "auc_mean": _mean(fold_auc),
                          "auc_sd": _sd(fold_auc), "dice_mean": _mean(fold_dice), "dice_sd": _sd(fold_dice),
                          "tta": [r["tta"] for r in records], "best_epoch": [r["best_epoch"] for r in records],
                          "epochs_run": [r["epochs_run"] for r in records],
                          "capped": [bool(r.get("capped")) for r in records],
                          "inner_val_auc": [r["val_auc"] for r in records],
                          "inner_val_dice_median": [r["val_dice_median"] for r in records],
                          "other_cpu_cores": [r.get("other_cpu_cores") for r in records],
                          "shared_machine": [shared(r) for r in records],
                          "peak_gpu_mb": max((r["peak_gpu_mb"] or 0 for r in records), default=None) or None}
    paired = {f"ynet_vs_{name}": paired_statistics(frames["ynet"], frame, seed)
              for name, frame in frames.items() if name != "ynet" and "ynet" in frames}
    return {"models": models, "paired": paired, "per_fold": per_fold}


def _mean(values) -> float | None:
    return float(np.mean(values)) if values else None


def known(values) -> list[float]:
    return [v for v in values if v is not None and np.isfinite(v)]


def _sd(values) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def shared(record: dict) -> bool:
    """Whether a CPU fit shared the machine with other work (its training speed is then not
    its own): other processes used more than :data:`SHARED_ABOVE` cores on average."""
    others = record.get("other_cpu_cores")
    return record.get("peak_gpu_mb") is None and others is not None and others > SHARED_ABOVE


# ------------------------------------------------------------------ tables


def num(value, digits: int = 3) -> str:
    """A table cell: the number to ``digits`` places, or — where there is none."""
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _ci(estimate, low, high, digits: int = 3, sign: str = "") -> str:
    if estimate is None or not np.isfinite(estimate):
        return "—"
    return f"{estimate:{sign}.{digits}f} ({low:{sign}.{digits}f} to {high:{sign}.{digits}f})"


def _runs(runs) -> str:
    if not runs:
        return "—"
    return f"{np.median(runs):.1f} ({min(runs):.1f}–{max(runs):.1f})"


def _epochs(best: Sequence[int], run: Sequence[int], capped: int) -> str:
    text = f"{min(best)}–{max(best)} / {min(run)}–{max(run)}" if best else "—"
    return text + (f", {capped} capped" if capped else "")


def model_lines(models: Mapping[str, dict]) -> list[str]:
    lines = ["| model | params | AUC (95 % CI, clustered) | Dice mean (95 % CI) | Dice median (95 % CI) [Q1, Q3] | "
             "Dice < 0.1 | best epoch / epochs run | train img/s, fits | train img/s, timed, median (min–max) | "
             "infer img/s b1, median (min–max) | infer img/s b8 | peak RSS |",
             "|---|---:|---|---|---|---:|---|---:|---|---|---|---:|"]
    for m, r in models.items():
        median = "—" if r["dice_median"] is None else \
            f"{_ci(r['dice_median'], r['dice_median_ci_low'], r['dice_median_ci_high'])} " \
            f"[{r['dice_q1']:.3f}, {r['dice_q3']:.3f}]"
        failures = "—" if r["dice_below_0_1"] is None else f"{r['dice_below_0_1']:.1%}"
        params = "—" if r["params"] is None else f"{r['params']:,}"
        lines.append(f"| {NAMES.get(m, m)} | {params} | {_ci(r['auc'], r['auc_ci_low'], r['auc_ci_high'])} | "
                     f"{_ci(r['dice_mean'], r['dice_mean_ci_low'], r['dice_mean_ci_high'])} | {median} | {failures} | "
                     f"{_epochs(r['best_epochs'], r['epochs_run'], r['capped_fits'])} | "
                     f"{num(r['train_images_per_s'], 1)} | {_runs(r.get('train_runs'))} | {_runs(r['infer_runs_b1'])} | "
                     f"{_runs(r['infer_runs_b8'])} | "
                     f"{num(r['peak_rss_mb'], 0)} MB |")
    return lines


def paired_lines(paired: Mapping[str, dict]) -> list[str]:
    """The Markdown table of Y-Net against each other model (same images, groups as clusters)."""
    lines = ["", "| Y-Net − | AUC difference (95 % CI, clustered) | p | Dice mean difference (95 % CI, cluster "
             "bootstrap) | Wilcoxon p over groups | fold-stratified AUC difference (95 % CI) | per image: DeLong "
             "difference, p |", "|---|---|---:|---|---:|---|---|"]
    for key, r in paired.items():
        peer = key.removeprefix("ynet_vs_")
        image = "—" if r["auc_difference"] is None else f"{r['auc_difference']:+.3f}, {num(r['p_value'], 4)}"
        lines.append(f"| {NAMES.get(peer, peer)} | {_ci(r['auc_diff'], r['auc_diff_ci_low'], r['auc_diff_ci_high'], sign='+')} | "
                     f"{num(r['auc_diff_p'], 4)} | "
                     f"{_ci(r['dice_mean_diff'], r['dice_mean_diff_ci_low'], r['dice_mean_diff_ci_high'], sign='+')} | "
                     f"{num(r['dice_cluster_wilcoxon_p'], 4)} | "
                     f"{_ci(r['auc_diff_fold_stratified'], r['auc_diff_fold_stratified_ci_low'], r['auc_diff_fold_stratified_ci_high'], sign='+')} | "
                     f"{image} |")
    return lines


def markdown(payload: dict, name: str) -> str:
    p = payload["protocol"]
    settings = p["settings"]
    lines = [f"# {name}: {p['folds']}-fold cross-validation, at most {settings['epochs']} epochs per fit "
             f"(early stopping, patience {settings['patience']}; {p['hardware']})", "",
             f"n = {p['n_images']} images in {p['n_groups']} groups ({p.get('labels', 'benign / malignant')}); every "
             f"image predicted once, out of fold. Groups join images of one patient and near-duplicate images "
             f"({p['duplicates']['n_pairs']} pairs at thumbnail correlation > {p['duplicates']['threshold']:g}); "
             f"{len(p['duplicates']['excluded'])} images of duplicates with opposite labels excluded. "
             f"CIs and tests count groups (clusters), not images. Inner validation: 1 part in "
             f"{max(2, p['folds'] - 1)} of each training part.", ""]
    lines += model_lines(payload["models"])
    if payload["paired"]:
        lines += paired_lines(payload["paired"])
    lines += ["", "Inner validation (where options are compared; never the out-of-fold predictions): "
              + "; ".join(f"{NAMES.get(m, m)} AUC {num(_mean(known(f['inner_val_auc'])))}, Dice "
                          f"{num(_mean(known(f['inner_val_dice_median'])))}" for m, f in payload["per_fold"].items())
              + "."]
    shared_fits = [f"{NAMES.get(m, m)} fold {k}" for m, f in payload["per_fold"].items()
                   for k, flag in enumerate(f.get("shared_machine", ())) if flag]
    if shared_fits:
        lines += ["", f"Training speed not the model's own (another job shared the CPU): {', '.join(shared_fits)}."]
    lines += ["", "Speed: each model timed in interleaved rounds in one process (warm-up excluded, "
              f"{p.get('threads', '?')} threads); median over the rounds, with min–max. Inference runs the model as "
              f"it is used; training runs the trainer's optimiser step on one fixed batch of {p.get('train_batch', 8)} "
              "(no data loading). \"train img/s, fits\" is all training images over all epochs' seconds of "
              "the fits, loading and augmentation included. Fold-stratified AUC differences "
              "compare cases with controls of the same fold only (a sensitivity analysis).",
              "", f"Settings: {json.dumps(settings)}.", f"Produced by `python -m ynet.benchmark` "
              f"(ynet.train.fit_fold for every model); torch {p['versions'].get('torch')}."]
    return "\n".join(lines) + "\n"


def progress_markdown(fits: Mapping[str, list[dict]], settings, name: str, groups: dict | None = None, *,
                      out_of_fold: bool = True) -> str:
    """Where an unfinished benchmark stands (pure): per model the fits saved so far, each fit's
    inner-validation AUC and Dice (where options are compared), epochs and training speed,
    and, for a model with every fold done, its out-of-fold AUC and Dice (clustered) and the
    paired comparisons with Y-Net (when Y-Net is done too). ``out_of_fold=False`` leaves the
    out-of-fold columns and tests out, so that an option round is decided blind. ``settings``:
    the benchmark's settings (folds, epochs, seed)."""
    groups = groups or {}
    done = {m: oof_frame(records, groups) for m, records in fits.items()
            if len(records) == settings.folds and out_of_fold}
    oof_head = "AUC, all out-of-fold (95 % CI, clustered) | Dice mean / median | " if out_of_fold else ""
    lines = [f"# {name}: progress of the {settings.folds}-fold cross-validation (at most {settings.epochs} epochs "
             "per fit, early stopping)", "",
             f"| model | fits done | {oof_head}inner-validation AUC / Dice per fit | best epoch / epochs run | "
             "train img/s per fit |", "|---|---:|" + "---|" * (5 if out_of_fold else 3)]
    for m, records in fits.items():
        r = model_statistics(done[m], settings.seed) if m in done else None
        auc = "—" if r is None or r["auc"] is None else \
            f"{r['auc']:.3f} ({r['auc_ci_low']:.3f}–{r['auc_ci_high']:.3f})"
        dice = "—" if r is None or r["dice_median"] is None else f"{r['dice_mean']:.3f} / {r['dice_median']:.3f}"
        oof = f"{auc} | {dice} | " if out_of_fold else ""
        inner = ", ".join(f"{rec['fold']}: {num(rec['val_auc'])} / {num(rec['val_dice_median'])}"
                          for rec in records) or "—"
        epochs = ", ".join(f"{rec['best_epoch']}/{rec['epochs_run']}{' capped' if rec.get('capped') else ''}"
                           for rec in records) or "—"
        speed = ", ".join(num(rec["train_images"] / rec["train_seconds"], 1) + ("*" if shared(rec) else "")
                          for rec in records if rec["train_seconds"]) or "—"
        lines.append(f"| {NAMES.get(m, m)} | {len(records)} / {settings.folds} | {oof}{inner} | {epochs} | {speed} |")
    if "ynet" in done and len(done) > 1:
        lines += paired_lines({f"ynet_vs_{m}": paired_statistics(done["ynet"], f, settings.seed)
                               for m, f in done.items() if m != "ynet"})
    if not out_of_fold:
        lines += ["", "Inner validation only (`--inner-only`): the out-of-fold predictions are kept in the fits "
                  f"but not scored here, so that an option is chosen without them (`{INNER_ONLY_MARKER}` beside this "
                  "file keeps it so for every later call; delete it to score them)."]
    unfinished = any(len(records) < settings.folds for records in fits.values())
    lines += ["", "Training speed is each fit's own (training images / seconds of its epochs); the final "
              "table adds inference speeds timed on their own." + (" Rerun the same command to continue."
                                                                   if unfinished else "")]
    if any(shared(rec) for records in fits.values() for rec in records):
        lines += ["", f"*: other processes used more than {SHARED_ABOVE:g} of a core on average while the fit ran; "
                  "its predictions stand, its speed does not: delete the fit and rerun it alone."]
    return "\n".join(lines) + "\n"


def plot_learning_curves(fits: Mapping[str, list[dict]], path, title: str) -> None:
    """One panel per model: every fold's training (dashed) and validation loss per epoch, the
    kept epoch marked, so a reader can see that every model had finished learning."""
    import matplotlib  # optional: the [ynet] extra has it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m for m in fits if fits[m]]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(3.6 * max(1, len(names)), 3.2), squeeze=False)
    for ax, m in zip(axes[0], names):
        for r in sorted(fits[m], key=lambda r: r["fold"]):
            h = r["history"]
            epochs = [row["epoch"] for row in h]
            line, = ax.plot(epochs, [row["val_loss"] for row in h], lw=1.2, label=f"fold {r['fold']}")
            ax.plot(epochs, [row["train_loss"] for row in h], lw=0.8, ls="--", color=line.get_color())
            best = next((row for row in h if row["epoch"] == r["best_epoch"]), None)
            if best is not None:
                ax.plot([best["epoch"]], [best["val_loss"]], "o", ms=4, color=line.get_color())
        ax.set_title(NAMES.get(m, m), fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (validation solid, training dashed)", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: learning curves (dot: the epoch kept)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


__all__ = ["INNER_ONLY_MARKER", "MODEL_KEYS", "PAIRED_KEYS", "SHARED_ABOVE", "progress_markdown", "markdown", "model_statistics", "oof_frame",
           "oof_predictions", "paired_lines", "paired_statistics", "plot_learning_curves", "shared", "summarize"]
