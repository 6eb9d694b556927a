"""Reader performance metrics and the covariance of the reader × test metrics.

Metrics (each reader × test): the empirical (trapezoidal) AUC, i.e. the Mann–Whitney
probability with ties counted ½; sensitivity and specificity of binary reads (1 = positive).

Covariance methods, as MRMCaov defines them (the matrix is ordered test-major: index
``t * n_readers + r``):

- ``jackknife``: leave one case out, ``(n − 1)/n`` times the cross-product of the centred
  pseudo-values. For sensitivity only the diseased cases are left out (specificity: only the
  non-diseased), because the metric does not depend on the others (MRMCaov's preprocessing);
- ``delong``: DeLong et al. (1988) structural components, ``S10/m + S01/n`` with ``m − 1``
  and ``n − 1`` denominators (AUC only);
- ``unbiased``: the unbiased U-statistic estimator of Gallas, Pennello & Myers (2007), i.e.
  ``AUC_a·AUC_b`` minus the unbiased estimate of ``E[AUC_a]·E[AUC_b]`` from the pairs of
  (diseased, non-diseased) pairs that share no case (AUC only).
"""

from __future__ import annotations

import numpy as np

from .study import ReaderStudy

METRICS = ("auc", "sensitivity", "specificity")
COVARIANCE_METHODS = ("jackknife", "delong", "unbiased")
# elements of the (groups × diseased block × non-diseased) kernel held at once by the unbiased method
_KERNEL_BLOCK = 4_000_000


def _groups(study: ReaderStudy) -> np.ndarray:
    """Ratings as (groups, cases), groups test-major."""
    t, r, c = study.ratings.shape
    return study.ratings.reshape(t * r, c)


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: for each diseased case the number of non-diseased rated lower (ties ½), and
    for each non-diseased case the number of diseased rated higher (ties ½)."""
    rows_pos = np.empty_like(pos)
    rows_neg = np.empty_like(neg)
    for g in range(pos.shape[0]):
        sorted_neg = np.sort(neg[g])
        below = np.searchsorted(sorted_neg, pos[g], side="left")
        tied = np.searchsorted(sorted_neg, pos[g], side="right") - below
        rows_pos[g] = below + 0.5 * tied
        sorted_pos = np.sort(pos[g])
        above = pos.shape[1] - np.searchsorted(sorted_pos, neg[g], side="right")
        tied = np.searchsorted(sorted_pos, neg[g], side="right") - np.searchsorted(sorted_pos, neg[g], side="left")
        rows_neg[g] = above + 0.5 * tied
    return rows_pos, rows_neg


def _split(study: ReaderStudy) -> tuple[np.ndarray, np.ndarray]:
    ratings = _groups(study)
    positive = study.truth == 1
    return ratings[:, positive], ratings[:, ~positive]


def _binary_cases(study: ReaderStudy, metric: str) -> np.ndarray:
    """(groups, cases the metric uses): 1 where the read is correct."""
    ratings = _groups(study)
    if metric == "sensitivity":
        return (ratings[:, study.truth == 1] == 1).astype(float)
    return (ratings[:, study.truth == 0] == 0).astype(float)


def reader_metrics(study: ReaderStudy, metric: str) -> np.ndarray:
    """The metric of each reader in each test, (tests, readers)."""
    t, r, _ = study.ratings.shape
    if metric == "auc":
        pos, neg = _split(study)
        placements, _ = _placements(pos, neg)
        values = placements.sum(axis=1) / (pos.shape[1] * neg.shape[1])
    elif metric in ("sensitivity", "specificity"):
        values = _binary_cases(study, metric).mean(axis=1)
    else:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return values.reshape(t, r)


def _jackknife(pseudo: np.ndarray) -> np.ndarray:
    """(n − 1)/n · crossprod of the centred leave-one-out values (cases × groups)."""
    n = pseudo.shape[0]
    centred = pseudo - pseudo.mean(axis=0)
    return (n - 1) / n * (centred.T @ centred)


def _auc_jackknife(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    m, n = pos.shape[1], neg.shape[1]
    rows_pos, rows_neg = _placements(pos, neg)
    total = rows_pos.sum(axis=1)
    without_pos = (total[None, :] - rows_pos.T) / ((m - 1) * n)
    without_neg = (total[None, :] - rows_neg.T) / (m * (n - 1))
    return _jackknife(np.vstack([without_pos, without_neg]))


def _auc_delong(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    m, n = pos.shape[1], neg.shape[1]
    rows_pos, rows_neg = _placements(pos, neg)
    v10 = rows_pos / n
    v01 = rows_neg / m
    auc = v10.mean(axis=1, keepdims=True)
    c10, c01 = v10 - auc, v01 - auc
    return (c10 @ c10.T) / ((m - 1) * m) + (c01 @ c01.T) / ((n - 1) * n)


def _kernel_products(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Σ over (diseased, non-diseased) pairs of ψ_a·ψ_b for every pair of groups a, b."""
    groups, m = pos.shape
    n = neg.shape[1]
    step = max(1, _KERNEL_BLOCK // max(1, groups * n))
    out = np.zeros((groups, groups))
    for start in range(0, m, step):
        block = pos[:, start:start + step]
        psi = 0.5 * (np.sign(block[:, :, None] - neg[:, None, :]) + 1.0)
        flat = psi.reshape(groups, -1)
        out += flat @ flat.T
    return out


def _auc_unbiased(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    m, n = pos.shape[1], neg.shape[1]
    rows_pos, rows_neg = _placements(pos, neg)
    total = rows_pos.sum(axis=1)
    same_pair = _kernel_products(pos, neg)
    same_pos = rows_pos @ rows_pos.T
    same_neg = rows_neg @ rows_neg.T
    products = np.outer(total, total)
    # pairs of pairs sharing no case: all − same diseased − same non-diseased + both the same
    disjoint = products - same_pos - same_neg + same_pair
    return products / (m * n) ** 2 - disjoint / (m * (m - 1) * n * (n - 1))


def metric_covariance(study: ReaderStudy, metric: str, method: str) -> np.ndarray:
    """Covariance of the reader × test metrics, (groups, groups) test-major."""
    if method not in COVARIANCE_METHODS:
        raise ValueError(f"unknown covariance method {method!r}; use one of {', '.join(COVARIANCE_METHODS)}")
    if metric == "auc":
        pos, neg = _split(study)
        if pos.shape[1] < 2 or neg.shape[1] < 2:
            raise ValueError("the AUC's covariance needs at least two diseased and two non-diseased cases")
        return {"jackknife": _auc_jackknife, "delong": _auc_delong, "unbiased": _auc_unbiased}[method](pos, neg)
    if metric not in ("sensitivity", "specificity"):
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if method != "jackknife":
        raise ValueError(f"the {method} covariance is defined for the AUC only; use the jackknife "
                         f"for {metric}")
    correct = _binary_cases(study, metric)
    k = correct.shape[1]
    if k < 2:
        kind = "diseased" if metric == "sensitivity" else "non-diseased"
        raise ValueError(f"the jackknife of {metric} needs at least two {kind} cases")
    pseudo = (correct.sum(axis=1)[None, :] - correct.T) / (k - 1)
    return _jackknife(pseudo)
