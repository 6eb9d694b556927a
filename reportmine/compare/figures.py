"""The page's figures (matplotlib, Agg): each returns PNG bytes."""

from __future__ import annotations

import io

import numpy as np

COLOURS = ["#1f5fa8", "#c8553d", "#2a9d8f", "#8e6c8a", "#e9a23b"]


def _plt():
    import matplotlib  # optional (the ynet extra): loaded lazily, only when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def roc_figure(curves: list[dict], points: list[dict]) -> bytes:
    """curves: name, fpr, tpr, auc, lo, hi; points: name, fpr, tpr (operating points)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls="--")
    for i, c in enumerate(curves):
        ax.plot(c["fpr"], c["tpr"], color=COLOURS[i % 5], lw=1.6,
                label=f"{c['name']}: AUC {c['auc']:.3f} ({c['lo']:.3f}–{c['hi']:.3f})")
    for i, p in enumerate(points):
        ax.plot([p["fpr"]], [p["tpr"]], marker=p.get("marker", "o"), ms=7, ls="none",
                color=p.get("colour", COLOURS[(i + len(curves)) % 5]), label=p["name"])
    finish_roc_axes(ax)
    return _png(fig)


def finish_roc_axes(ax) -> None:
    """Labels, unit square and the legend below the axes (never over the curves) of a ROC plot."""
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)


def dice_figure(series: list[tuple[str, np.ndarray]]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(series), 3.6))
    data = [v[~np.isnan(v)] for _, v in series]
    ax.boxplot(data, widths=0.5, showfliers=False, medianprops={"color": "#c8553d"})
    rng = np.random.default_rng(0)
    names = []
    for i, ((name, _), v) in enumerate(zip(series, data), start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, v.size), v, s=8, alpha=0.55, color="#1f5fa8")
        names.append(name)
        if v.size:  # the summary goes under the axis, with the name: never over the box or the points
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            names[-1] += f"\nmedian {med:.3f}\nQ1 {q1:.3f} · Q3 {q3:.3f}"
    ax.set_xticks(range(1, len(series) + 1), names, fontsize=7)
    ax.set_ylabel("Dice per image")
    ax.set_ylim(0, 1.02)
    return _png(fig)


def examples_figure(examples: list[dict]) -> bytes:
    """examples: title, image (H×W float/uint8), reference (bool), predicted (bool)."""
    from scipy import ndimage

    plt = _plt()
    fig, axes = plt.subplots(1, len(examples), figsize=(3.0 * len(examples), 3.1))
    axes = np.atleast_1d(axes)
    for ax, ex in zip(axes, examples):
        ax.imshow(ex["image"], cmap="gray")
        for mask, colour in ((ex["reference"], "#2ecc71"), (ex["predicted"], "#e74c3c")):
            if mask is not None and mask.any():
                edge = mask & ~ndimage.binary_erosion(mask, iterations=2)
                overlay = np.zeros((*mask.shape, 4))
                rgb = tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
                overlay[edge] = (*rgb, 1.0)
                ax.imshow(overlay)
        ax.set_title(ex["title"], fontsize=8)
        ax.axis("off")
    fig.text(0.5, 0.01, "green: reference outline · red: predicted outline", ha="center", fontsize=7)
    return _png(fig)


def confusion_figure(tables: list[tuple[str, tuple[int, int, int, int]]]) -> bytes:
    plt = _plt()
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables), 3.0))
    axes = np.atleast_1d(axes)
    for ax, (name, (tp, fp, fn, tn)) in zip(axes, tables):
        grid = np.array([[tp, fp], [fn, tn]])
        ax.imshow(grid, cmap="Blues", vmin=0)
        for (r, c), v in np.ndenumerate(grid):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=10,
                    color="white" if v > grid.max() * 0.6 else "black")
        ax.set_xticks([0, 1], ["ref. +", "ref. −"], fontsize=7)  # the reference standard, named in the caption
        ax.set_yticks([0, 1], ["test +", "test −"], fontsize=7)
        ax.set_title(name.replace(" (", "\n("), fontsize=8)
    fig.tight_layout()
    return _png(fig)


def calibration_figure(items: list[dict]) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls="--", label="perfect calibration")
    for i, it in enumerate(items):
        ax.plot(it["predicted"], it["observed"], marker="o", ms=4, color=COLOURS[i % 5],
                label=f"{it['name']} (Brier {it['brier']:.3f})")
    ax.set_xlabel("mean predicted probability (bin)")
    ax.set_ylabel("observed fraction malignant")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: never over data
    return _png(fig)


def decision_figure(items: list[dict], prevalence: float) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    first = items[0]
    ax.plot(first["thresholds"], first["treat_all"], color="#888888", lw=1, label="treat all")
    ax.axhline(0, color="#444444", lw=1, label="treat none")
    for i, it in enumerate(items):
        ax.plot(it["thresholds"], it["net_benefit"], color=COLOURS[i % 5], lw=1.5, label=it["name"])
    ax.set_ylim(-0.05, max(prevalence, 0.05) + 0.05)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: never over data
    return _png(fig)
