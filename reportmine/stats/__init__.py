"""Diagnostic-accuracy statistics: pure functions returning small immutable results.

Nothing here imports the rest of reportmine (or torch): it is safe to use on its own.
"""

from .audit import Reconstruction, reconstruct
from .cluster_bootstrap import (
    ClusterBootstrap,
    cluster_bootstrap,
    weighted_auc,
    weighted_median,
    weighted_ratio,
)
from .clustered import (
    ClusteredMcNemar,
    ClusteredMetrics,
    ClusteredPairedComparison,
    ClusteredPairedTest,
    ClusteredProportion,
    CorrelatedProportionsTest,
    clustered_mcnemar,
    clustered_metrics,
    clustered_proportion,
    compare_paired_clustered,
    correlated_proportions_test,
)
from .clustered_roc import (
    ClusteredAUC,
    ClusteredAUCDifference,
    auc_clustered,
    auc_difference_clustered,
)
from .diagnostic import (
    DiagnosticMetrics,
    Ratio,
    TwoByTwo,
    diagnostic_metrics,
    likelihood_ratios,
    two_by_two,
)
from .overlap import OverlapSummary, dice, jaccard, overlap_per_image, summarize_overlap
from .paired import McNemarResult, PairedComparison, compare_paired, mcnemar
from .proportions import CI_METHODS, Proportion, proportion_ci
from .roc import (
    AUCResult,
    BootstrapCI,
    Cutoff,
    DeLongTest,
    ROCCurve,
    ThresholdTransfer,
    apply_threshold,
    auc_bootstrap,
    auc_delong,
    delong_test,
    roc_curve,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
    transfer_threshold,
    youden,
)

__all__ = [
    "ClusterBootstrap", "ClusteredAUC", "ClusteredAUCDifference", "ClusteredMcNemar", "ClusteredMetrics",
    "ClusteredPairedComparison", "ClusteredPairedTest", "ClusteredProportion", "CorrelatedProportionsTest",
    "auc_clustered", "auc_difference_clustered", "cluster_bootstrap", "clustered_mcnemar", "clustered_metrics",
    "clustered_proportion", "compare_paired_clustered", "correlated_proportions_test", "weighted_auc",
    "weighted_median", "weighted_ratio",
    "AUCResult", "BootstrapCI", "CI_METHODS", "Cutoff", "DeLongTest", "DiagnosticMetrics", "McNemarResult",
    "OverlapSummary", "PairedComparison", "Proportion", "ROCCurve", "Ratio", "Reconstruction",
    "ThresholdTransfer", "TwoByTwo", "apply_threshold", "auc_bootstrap", "auc_delong", "compare_paired",
    "delong_test", "diagnostic_metrics", "dice", "jaccard", "likelihood_ratios", "mcnemar",
    "overlap_per_image", "proportion_ci", "reconstruct", "roc_curve", "sensitivity_at_specificity",
    "specificity_at_sensitivity", "summarize_overlap", "transfer_threshold", "two_by_two", "youden",
]
