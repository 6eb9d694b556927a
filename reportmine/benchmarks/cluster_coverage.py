"""Simulation study: coverage of naive and clustered 95 % CIs for sensitivity.

    python -m reportmine.benchmarks.cluster_coverage [--studies 2000] [--patients 100] [--seed 0]
                                                      [--out-dir reports/benchmarks]

Each simulated study has ``--patients`` patients with one to several lymph nodes. Half the
patients have metastatic disease, and a node of theirs is malignant with probability 0.85
(0.05 for the others), so malignant nodes come in clusters as in real neck dissections. A
malignant node of patient k is called
positive with probability expit(logit(0.85) + σ·uₖ), uₖ ~ N(0, 1) shared by the patient's
nodes: σ is the size of the patient random effect (0 = nodes independent). The target is
the population sensitivity E[expit(logit(0.85) + σu)] (Gauss–Hermite quadrature), which the
ratio estimator Σ TP / Σ malignant estimates because the number of malignant nodes does not
depend on u (nor σ: the malignant nodes are drawn before the calls). Per setting, 2,000 studies; the share of studies whose CI holds the target:

* naive Clopper–Pearson (MedCalc's default, nodes treated as independent);
* naive logit-Wald (binomial SE; the clustered interval's formula without the clustering);
* clustered logit-Wald (cluster-robust SE, :func:`reportmine.stats.clustered_proportion`).

Three cluster-size designs: the paper's (3,059 nodes from 2,398 patients: mean 1.28 per
patient), the demo cohort's (1–5 nodes, mean 2.3) and a neck-dissection-like one (2–8 nodes,
mean 4.5). Everything is vectorised over the
studies; the first studies of each setting are recomputed with the engine as a check.
Writes cluster_coverage.md, .json and .png under --out-dir.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.special import betaincinv, expit, logit, ndtri

from reportmine.core.outputs import write_bytes_atomic, write_json_atomic, write_text_atomic
from reportmine.core.provenance import run_record
from reportmine.stats import clustered_proportion

SENSITIVITY = 0.85
METASTATIC_PATIENTS = 0.5
NODE_MALIGNANT = {True: 0.85, False: 0.05}  # by the patient's metastatic status
SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
DESIGNS = {
    "paper-like (1–3 nodes, mean 1.28)": ((1, 2, 3), (0.78, 0.16, 0.06)),
    "demo-like (1–5 nodes, mean 2.3)": ((1, 2, 3, 4, 5), (0.35, 0.25, 0.20, 0.12, 0.08)),
    "dissection-like (2–8 nodes, mean 4.5)": ((2, 3, 4, 5, 6, 7, 8), (0.15, 0.15, 0.2, 0.15, 0.15, 0.1, 0.1)),
}
METHODS = ("naive Clopper–Pearson", "naive logit-Wald", "clustered logit-Wald")
CHECKED_STUDIES = 20


def true_sensitivity(sigma: float, points: int = 80) -> float:
    """E[expit(logit(Sen) + σu)], u ~ N(0, 1), by Gauss–Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(points)
    return float(np.dot(w, expit(logit(SENSITIVITY) + sigma * x)) / w.sum())


def simulate(sigma: float, sizes, weights, studies: int, patients: int, rng: np.random.Generator) -> dict:
    """The three CIs of every study, vectorised: arrays (studies × patients × max nodes)."""
    width = max(sizes)
    size = rng.choice(np.asarray(sizes), p=np.asarray(weights), size=(studies, patients))
    present = np.arange(width)[None, None, :] < size[:, :, None]
    metastatic = rng.random((studies, patients)) < METASTATIC_PATIENTS
    p_malignant = np.where(metastatic, NODE_MALIGNANT[True], NODE_MALIGNANT[False])[:, :, None]
    malignant = present & (rng.random((studies, patients, width)) < p_malignant)
    effect = rng.standard_normal((studies, patients))
    p_call = expit(logit(SENSITIVITY) + sigma * effect)[:, :, None]
    positive = malignant & (rng.random((studies, patients, width)) < p_call)
    d_k = malignant.sum(axis=2).astype(float)  # malignant nodes per patient
    n_k = positive.sum(axis=2).astype(float)  # true positives per patient
    d, x = d_k.sum(axis=1), n_k.sum(axis=1)
    p = x / d
    z = float(ndtri(0.975))
    k = patients
    resid = n_k - p[:, None] * d_k
    se_cluster = np.sqrt(k / (k - 1) * (resid ** 2).sum(axis=1) / d ** 2)
    se_naive = np.sqrt(p * (1 - p) / d)
    inner = (p > 0) & (p < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = logit(p)
        intervals = {}
        for name, se in (("naive logit-Wald", se_naive), ("clustered logit-Wald", se_cluster)):
            half = z * se / (p * (1 - p))
            low, high = expit(centre - half), expit(centre + half)
            # at 0 % or 100 % the engine falls back to Clopper–Pearson; do the same here
            intervals[name] = (low, high)
        cp_low = np.where(x > 0, betaincinv(x, d - x + 1, 0.025), 0.0)
        cp_high = np.where(x < d, betaincinv(x + 1, d - x, 0.975), 1.0)
    intervals["naive Clopper–Pearson"] = (cp_low, cp_high)
    for name in ("naive logit-Wald", "clustered logit-Wald"):
        low, high = intervals[name]
        intervals[name] = (np.where(inner, low, cp_low), np.where(inner, high, cp_high))
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 % / 100 % studies have no design effect
        deff = se_cluster ** 2 / se_naive ** 2
    check = []
    for s in range(min(CHECKED_STUDIES, studies)):
        units = present[s].ravel()
        clusters = np.repeat(np.arange(patients), width)[units]
        engine = clustered_proportion(positive[s].ravel()[units].astype(int), clusters,
                                      in_denominator=malignant[s].ravel()[units].astype(int))
        check.append(max(abs(engine.ci_low - intervals["clustered logit-Wald"][0][s]),
                         abs(engine.ci_high - intervals["clustered logit-Wald"][1][s])))
    return {"estimate": p, "intervals": intervals, "design_effect": deff, "nodes": present.sum(axis=(1, 2)),
            "malignant": d, "engine_max_abs_difference": float(max(check)) if check else 0.0}


def run(studies: int = 2000, patients: int = 100, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for design, (sizes, weights) in DESIGNS.items():
        for sigma in SIGMAS:
            target = true_sensitivity(sigma)
            sim = simulate(sigma, sizes, weights, studies, patients, rng)
            if sim["engine_max_abs_difference"] > 1e-12:
                raise RuntimeError(f"vectorised CI differs from the engine by {sim['engine_max_abs_difference']}")
            row = {"design": design, "sigma": sigma, "true_sensitivity": target, "studies": studies,
                   "patients": patients, "mean_nodes": float(sim["nodes"].mean()),
                   "mean_malignant_nodes": float(sim["malignant"].mean()),
                   "mean_design_effect": float(np.nanmean(sim["design_effect"])),
                   "engine_max_abs_difference": sim["engine_max_abs_difference"]}
            for method in METHODS:
                low, high = sim["intervals"][method]
                covered = (low <= target) & (target <= high)
                row[f"coverage {method}"] = float(covered.mean())
                row[f"width {method}"] = float(np.mean(high - low))
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    studies = rows[0]["studies"]
    mc = 1.96 * math.sqrt(0.95 * 0.05 / studies)
    lines = [f"Coverage of nominal 95 % CIs for sensitivity over {studies:,} simulated studies per row "
             f"({rows[0]['patients']} patients each; Monte Carlo error of a true 95 % coverage: ± {100 * mc:.1f} "
             "points). σ: SD of the patient random effect on the logit of a malignant node's positive call.", "",
             "| design | σ | true Sen | mean design effect | " + " | ".join(f"{m} coverage" for m in METHODS)
             + " | " + " | ".join(f"{m} mean width" for m in METHODS) + " |",
             "|---|---:|---:|---:|" + "---:|" * (2 * len(METHODS))]
    for r in rows:
        cov = " | ".join(f"{100 * r[f'coverage {m}']:.1f} %" for m in METHODS)
        wid = " | ".join(f"{100 * r[f'width {m}']:.1f}" for m in METHODS)
        lines.append(f"| {r['design']} | {r['sigma']:g} | {100 * r['true_sensitivity']:.1f} % | "
                     f"{r['mean_design_effect']:.2f} | {cov} | {wid} |")
    return "\n".join(lines)


def figure(rows: list[dict]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    designs = list(dict.fromkeys(r["design"] for r in rows))
    fig, axes = plt.subplots(1, len(designs), figsize=(5.2 * len(designs), 4.0), sharey=True)
    axes = np.atleast_1d(axes)
    studies = rows[0]["studies"]
    band = 1.96 * math.sqrt(0.95 * 0.05 / studies)
    for ax, design in zip(axes, designs):
        part = [r for r in rows if r["design"] == design]
        sig = [r["sigma"] for r in part]
        ax.axhspan(95 - 100 * band, 95 + 100 * band, color="#dddddd", label="95 % ± Monte Carlo error")
        for method, style in zip(METHODS, ("s--", "^:", "o-")):
            ax.plot(sig, [100 * r[f"coverage {method}"] for r in part], style, label=method)
        ax.set_title(design, fontsize=10)
        ax.set_xlabel("σ, patient random effect (logit scale)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"coverage of the 95 % CI (%), {studies:,} studies")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="simulated studies per setting (default 2000)")
    parser.add_argument("--patients", type=int, default=100, help="patients per study (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, help="write cluster_coverage.md/.json/.png here")
    args = parser.parse_args(argv)
    if args.studies < 1 or args.patients < 2:
        parser.error("need at least 1 study and 2 patients")
    rows = run(args.studies, args.patients, args.seed)
    text = table(rows)
    print(text)
    if args.out_dir:
        out = args.out_dir
        config = {"studies": args.studies, "patients": args.patients, "seed": args.seed, "sigmas": list(SIGMAS),
                  "sensitivity": SENSITIVITY, "metastatic_patients": METASTATIC_PATIENTS,
                  "node_malignant": {"metastatic": NODE_MALIGNANT[True], "other": NODE_MALIGNANT[False]},
                  "designs": {k: {"sizes": list(s), "weights": list(w)} for k, (s, w) in DESIGNS.items()}}
        command = "python -m reportmine.benchmarks.cluster_coverage " + " ".join(sys.argv[1:] if argv is None
                                                                                 else argv)
        write_text_atomic(out / "cluster_coverage.md",
                          f"# Naive vs clustered CIs for sensitivity: coverage\n\n`{command.strip()}`\n\n{text}\n\n"
                          "![coverage](cluster_coverage.png)\n")
        write_json_atomic(out / "cluster_coverage.json", {"rows": rows, "run": run_record(config, {})})
        write_bytes_atomic(out / "cluster_coverage.png", figure(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
