"""`benchmark`: diagnostic-accuracy calculators (MedCalc-style), the model comparison page and the demo.

Subcommands print a readable table, or one JSON object with --json (non-finite numbers as
the strings "Inf", "-Inf", "NaN"). They import only the statistics engine: no torch, no
network code, so they start fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from .core.arguments import ArgumentParser, add_seed, parse_command_line, real, whole
from .core.errors import InputError, run_command
from .stats import diagnostic_metrics, mcnemar, reconstruct
from .stats.audit import MAX_DECIMALS, MAX_GROUP
from .stats.diagnostic import MIN_PREVALENCE
from .stats.paired import MAX_COUNT as MCNEMAR_MAX_COUNT

# one line per bad argument, naming it; the statistics engine's own limits are documented there
MAX_DEMO_EPOCHS = 10_000
# the optional dependencies a subcommand needs (the calculators run on the core install)
EXTRAS = {"compare": "all", "demo": "all"}
DEMO_OUT = "reportmine-demo"  # the demo's default folder (reportmine.compare.demo.DEMO_OUT, without its imports)


class UsageError(InputError):
    """A bad argument or input file; the message is the one line the user sees."""


def _finite(value):
    """JSON-safe: non-finite floats become "Inf" / "-Inf" / "NaN"."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _emit(payload: dict, text: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_finite(payload), ensure_ascii=False, allow_nan=False))
    else:
        print(text)


_count = whole(0)
_number = real()


def _bounded_count(limit: int, at_least: int = 0):
    return whole(at_least, limit, what=" (documented limit)")


_conf_level = real(0, 1, open_low=True, open_high=True)


def _percent_text(text: str) -> str:
    """A reported percentage, kept as text so that its decimals can be read from it."""
    value = _number(text.strip().rstrip("%"))
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be a percentage from 0 to 100")
    return text


def _threshold(text: str) -> str:
    if text in ("youden-oof", "youden-test"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use youden-oof, youden-test or a probability") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: a probability cut-off must lie in [0, 1]")
    return text


def _fraction(text: str) -> float:
    """A prevalence: 0.1, 10% or 10 (a plain number above 1 is a percentage); "1" is refused as
    ambiguous (all, or one percent?)."""
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not percent and value == 1:
        raise argparse.ArgumentTypeError(f"{text!r} is ambiguous: write 1% for one percent (a prevalence of "
                                         "100 % leaves no negatives)")
    if percent or value > 1:
        value /= 100.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a prevalence between 0 and 1 (or 0–100 %)")
    if not MIN_PREVALENCE <= value <= 1 - MIN_PREVALENCE:
        raise argparse.ArgumentTypeError(f"{text!r} is outside the documented range 0.0001 %–99.9999 % "
                                         "(the logit CI of a re-weighted PPV/NPV needs it)")
    return value


def cmd_metrics(args) -> int:
    if args.file is not None:
        return _metrics_file(args)
    if None in (args.tp, args.fp, args.fn, args.tn):
        raise UsageError("give --tp, --fp, --fn and --tn, or a FILE with --label-col and --test-col")
    if args.label_col or args.test_col or args.cluster_col:
        raise UsageError("--label-col, --test-col and --cluster-col need a FILE")
    if args.tp + args.fn == 0 or args.fp + args.tn == 0:
        raise UsageError("zero denominator: need at least one diseased (TP+FN) and one non-diseased (FP+TN) case")
    m = diagnostic_metrics(args.tp, args.fp, args.fn, args.tn, ci_method=args.ci_method,
                           prevalence=args.prevalence, conf_level=args.conf_level)
    payload = m.as_dict() | {"table": {"tp": args.tp, "fp": args.fp, "fn": args.fn, "tn": args.tn},
                             "prevalence": m.prevalence, "prevalence_source": m.prevalence_source,
                             "conf_level": args.conf_level}
    _emit(payload, m.summary(), args.json)
    return 0


# The file modes read tables with pandas, which the count modes never need: the calculators'
# module is imported lazily so that `benchmark metrics --tp …` starts without it.


def _metrics_file(args) -> int:
    if any(v is not None for v in (args.tp, args.fp, args.fn, args.tn)):
        raise UsageError("give either a FILE or the counts --tp/--fp/--fn/--tn, not both")
    if not args.label_col or not args.test_col:
        raise UsageError("a FILE needs --label-col and --test-col")
    if args.prevalence is not None:
        raise UsageError("--prevalence applies to the count mode only")
    from .stats.calculators import metrics_from_table  # pandas, lazily (see above)

    r = metrics_from_table(args.file, args.label_col, args.test_col, args.cluster_col,
                           indeterminate=args.indeterminate, ci_method=args.ci_method, conf_level=args.conf_level)
    _emit(r.as_dict(), r.summary(), args.json)
    return 0


def cmd_mcnemar(args) -> int:
    if args.file is not None:
        if any(v is not None for v in (args.a, args.b, args.c, args.d)):
            raise UsageError("give either a FILE or the counts --b/--c, not both")
        if not args.test_col or len(args.test_col) != 2:
            raise UsageError("a FILE needs two --test-col")
        from .stats.calculators import mcnemar_from_table  # pandas, lazily (see above)

        r = mcnemar_from_table(args.file, args.test_col, args.label_col, args.cluster_col,
                               indeterminate=args.indeterminate)
        _emit(r.as_dict(), r.summary(), args.json)
        return 0
    if args.b is None or args.c is None:
        raise UsageError("give --b and --c, or a FILE with two --test-col")
    if args.test_col or args.label_col or args.cluster_col:
        raise UsageError("--test-col, --label-col and --cluster-col need a FILE")
    r = mcnemar(args.b, args.c, a=args.a, d=args.d)
    payload = {
        "b": r.b, "c": r.c, "a": r.a, "d": r.d,
        "exact": {"p_value": r.exact.p_value, "method": r.exact.method},
        "chi2": {"statistic": r.chi2.statistic, "p_value": r.chi2.p_value, "method": r.chi2.method},
        "chi2_corrected": {"statistic": r.chi2_corrected.statistic, "p_value": r.chi2_corrected.p_value,
                           "method": r.chi2_corrected.method},
        "reported": r.reported,
    }
    _emit(payload, r.summary(), args.json)
    return 0


def cmd_roc(args) -> int:
    from .stats.calculators import roc_from_table  # pandas, lazily (see above)

    if len(args.score_col) > 2:
        raise UsageError("give one or two --score-col")
    r = roc_from_table(args.file, args.label_col, args.score_col, args.cluster_col, args.conf_level)
    _emit(r.as_dict(), r.summary(), args.json)
    return 0


def cmd_reconstruct(args) -> int:
    if (args.n_pos is None) != (args.n_neg is None):
        raise UsageError("give both --n-pos and --n-neg, or --n, or neither")
    try:
        r = reconstruct(args.sen, args.spe, args.acc, args.ppv, args.npv, n_pos=args.n_pos, n_neg=args.n_neg,
                        n=args.n, decimals=args.decimals, max_n=args.max_n)
    except ValueError as exc:  # the audit's own one-line refusals (limits, inconsistent arguments)
        raise UsageError(str(exc)) from exc

    def fit(f):
        return {"tp": f.tp, "fp": f.fp, "fn": f.fn, "tn": f.tn, "n_pos": f.n_pos, "n_neg": f.n_neg,
                "values": f.values, "mismatched": list(f.mismatched)}

    payload = {"exactly_consistent": r.exactly_consistent, "search": r.search,
               "reported": {k: {"percent": v.percent, "decimals": v.decimals} for k, v in r.reported.items()},
               "consistent": [fit(f) for f in r.consistent], "truncated": r.truncated,
               "best_fits": [fit(f) for f in r.best_fits]}
    _emit(payload, r.summary(), args.json)
    return 0


def cmd_mrmc(args) -> int:
    from .stats.mrmc import mrmc_from_table

    r = mrmc_from_table(args.file, test_col=args.test_col, reader_col=args.reader_col, case_col=args.case_col,
                        truth_col=args.truth_col, rating_col=args.rating_col, metric=args.metric,
                        covariance=args.covariance, fixed=args.fixed, conf_level=args.conf_level)
    _emit(r.as_dict() | {"file": args.file}, r.summary(), args.json)
    return 0


def cmd_compare(args) -> int:
    # the comparison needs the `all` extra (torch, jinja2, matplotlib): loaded lazily, so that
    # the calculators run on a core install and a missing extra is named by run_command
    from .compare.run import CompareOptions, compare

    if not args.model and not args.predictions and not args.reports:
        raise UsageError("give at least one --model, --predictions or --reports")
    options = CompareOptions(models=args.model or [], predictions=args.predictions or [], reports=args.reports,
                             split=args.split, indeterminate=args.indeterminate, threshold=args.threshold,
                             max_missing=args.max_missing, exclude_labels=tuple(args.exclude_label),
                             device=args.device, seed=args.seed, title=args.title, synthetic=args.synthetic,
                             unit_name=args.unit_name, unit=args.unit, reference=args.reference,
                             report_overrides=args.report_overrides, readers=args.readers)
    page = compare(args.manifest, args.out, options, force=args.force)
    print(f"written: {page}")
    return 0


def cmd_demo(args) -> int:
    from .compare.demo import run_demo, runs_folder  # the `all` extra, lazily (see cmd_compare)

    start = time.perf_counter()
    runs = args.keep_runs or runs_folder(args.out)
    page = run_demo(args.out, epochs=args.epochs, seed=args.seed, keep_runs=runs, say=print)
    print(f"written: {page} ({time.perf_counter() - start:.0f} s); the classified reports and the trained "
          f"networks: {runs}. The demo data are synthetic.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)
    conf = dict(type=_conf_level, default=0.95, help="confidence level, in (0, 1) (default 0.95)")

    m = sub.add_parser("metrics", help="Sen, Spe, Acc, PPV, NPV, LR+ and LR− of a 2×2 table or of a file, with CIs",
                       description="Counts mode: --tp --fp --fn --tn. File mode: FILE (.csv/.xlsx, one row per "
                                   "node) with --label-col and --test-col; with --cluster-col (e.g. the patient id) "
                                   "also the clustered (patient-level) ratio estimators with cluster-robust CIs.")
    m.add_argument("file", nargs="?", help="file mode: .csv or .xlsx with one row per node")
    for name, what in (("tp", "true positives"), ("fp", "false positives"), ("fn", "false negatives"),
                       ("tn", "true negatives")):
        m.add_argument(f"--{name}", type=_count, help=what)
    m.add_argument("--label-col", help="file mode: reference standard, 1/0 or malignant/benign")
    m.add_argument("--test-col", help="file mode: index test call, 1/0, malignant/benign or indeterminate")
    m.add_argument("--cluster-col", help="file mode: cluster (patient) id; adds the clustered analysis")
    m.add_argument("--indeterminate", choices=("positive", "negative", "exclude"), default="exclude",
                   help="file mode: how indeterminate calls count (default: exclude, and say how many)")
    m.add_argument("--ci-method", choices=("clopper-pearson", "wilson", "jeffreys", "agresti-coull", "logit"),
                   help="method for all five proportions (default: MedCalc's — Clopper–Pearson; logit for PPV/NPV)")
    m.add_argument("--prevalence", type=_fraction,
                   help="re-weight PPV, NPV and accuracy to this prevalence: 0.1, 10%% or 10")
    m.add_argument("--conf-level", **conf)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_metrics)

    mc = sub.add_parser("mcnemar", help="McNemar tests for two tests read on the same cases (counts or a file)",
                        description="Counts mode: --b --c. File mode: FILE with two --test-col (and --label-col "
                                    "to compare sensitivity and specificity); --cluster-col adds Durkalski's "
                                    "clustered McNemar and Obuchowski's (1998) test.")
    mc.add_argument("file", nargs="?", help="file mode: .csv or .xlsx with one row per node")
    pairs = _bounded_count(MCNEMAR_MAX_COUNT)  # the exact test's documented limit (stats.paired)
    mc.add_argument("--b", type=pairs, help="test 1 positive, test 2 negative")
    mc.add_argument("--c", type=pairs, help="test 1 negative, test 2 positive")
    mc.add_argument("--a", type=pairs, help="both positive (optional)")
    mc.add_argument("--d", type=pairs, help="both negative (optional)")
    mc.add_argument("--test-col", action="append", help="file mode: a test's calls; give it twice")
    mc.add_argument("--label-col", help="file mode: reference standard, to compare Sen and Spe too")
    mc.add_argument("--cluster-col", help="file mode: cluster (patient) id; adds the clustered tests")
    mc.add_argument("--indeterminate", choices=("positive", "negative", "exclude"), default="exclude",
                    help="file mode: indeterminate calls (default: drop rows where either test has one)")
    mc.add_argument("--json", action="store_true")
    mc.set_defaults(func=cmd_mcnemar)

    r = sub.add_parser("roc", help="AUC with DeLong CI, Youden cut-off; paired DeLong test for two scores")
    r.add_argument("file", help=".csv or .xlsx with a label column and score column(s)")
    r.add_argument("--label-col", required=True, help="1/0 or malignant/benign")
    r.add_argument("--score-col", action="append", required=True, help="higher = more likely malignant; twice to compare")
    r.add_argument("--cluster-col", help="cluster (patient) id: adds Obuchowski's clustered AUC and paired test")
    r.add_argument("--conf-level", **conf)
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_roc)

    rc = sub.add_parser("reconstruct", help="which integer 2×2 tables fit published percentages?")
    for name in ("sen", "spe", "acc", "ppv", "npv"):
        rc.add_argument(f"--{name}", type=_percent_text,
                        help=f"reported {name} in percent (decimals are read from the text)")
    group_limit = _bounded_count(MAX_GROUP)
    rc.add_argument("--n-pos", type=group_limit, help=f"number diseased (at most {MAX_GROUP:,})")
    rc.add_argument("--n-neg", type=group_limit, help=f"number non-diseased (at most {MAX_GROUP:,})")
    rc.add_argument("--n", type=_bounded_count(MAX_GROUP, 1),
                    help=f"total number, group sizes unknown (at most {MAX_GROUP:,})")
    rc.add_argument("--decimals", type=_bounded_count(MAX_DECIMALS),
                    help=f"decimals of every reported value, 0 to {MAX_DECIMALS} (default: as written)")
    rc.add_argument("--max-n", type=_bounded_count(MAX_GROUP, 1), default=2000,
                    help=f"largest group size searched without --n/--n-pos (default 2000, at most {MAX_GROUP:,})")
    rc.add_argument("--json", action="store_true")
    rc.set_defaults(func=cmd_reconstruct)

    mr = sub.add_parser("mrmc", help="reader study (MRMC): Obuchowski–Rockette analysis with Hillis' df, as MRMCaov",
                        description="FILE: .csv or .xlsx in long format, one row per reading (test, reader, case, "
                                    "truth, rating); every reader reads every case in every test. Compares the "
                                    "tests' mean reader performance with readers and cases as random samples "
                                    "(or one of them fixed). See docs/reader-study.md.")
    mr.add_argument("file", help=".csv or .xlsx, one row per reading")
    for name, default, what in (("test", "test", "test (modality), e.g. with / without the model"),
                                ("reader", "reader", "reader id"), ("case", "case", "case id"),
                                ("truth", "truth", "case truth, 1/0 or malignant/benign"),
                                ("rating", "rating", "rating (higher = more likely diseased); 1/0 for "
                                                     "sensitivity and specificity")):
        mr.add_argument(f"--{name}-col", default=default, help=f"{what} (default {default!r})")
    mr.add_argument("--metric", choices=("auc", "sensitivity", "specificity"), default="auc",
                    help="reader performance: empirical AUC (default), or sensitivity/specificity of binary reads")
    mr.add_argument("--covariance", choices=("jackknife", "delong", "unbiased"), default="jackknife",
                    help="covariance of the reader metrics (default jackknife; delong and unbiased: AUC only)")
    mr.add_argument("--fixed", choices=("none", "readers", "cases"), default="none",
                    help="treat readers or cases as fixed (default none: both random)")
    mr.add_argument("--conf-level", **conf)
    mr.add_argument("--json", action="store_true")
    mr.set_defaults(func=cmd_mrmc)

    cp = sub.add_parser("compare", help="models vs original reports vs pathology: one HTML page")
    cp.add_argument("--model", action="append", metavar="[NAME=]PATH",
                    help="Y-Net checkpoint, optionally named as the page should call it (e.g. "
                         "'Y-Net fold 0=run/fold_0/best.pt'; default: the network's variant); repeat for several")
    cp.add_argument("--manifest", required=True, help="cohort manifest (.csv/.xlsx) with the gold label")
    cp.add_argument("--reports", help="a `reportmine classify` output (default: classify the manifest's report_text)")
    cp.add_argument("--report-overrides", metavar="FILE",
                    help="reviewer corrections CSV from `reportmine review`: replace those report labels")
    cp.add_argument("--predictions", action="append", metavar="[NAME=]PATH",
                    help="precomputed `ynet predict` CSV, optionally named as for --model (repeatable)")
    cp.add_argument("--split", default="test", help="split to evaluate (manifest split column or the run's splits.csv)")
    cp.add_argument("--indeterminate", choices=("positive", "negative", "exclude"), default="positive",
                    help="how indeterminate report calls count (default: positive)")
    cp.add_argument("--threshold", default="youden-oof", type=_threshold,
                    help="models' cut-off: youden-oof (default; from the training run's out-of-fold predictions), "
                         "youden-test (optimistic) or a probability")
    cp.add_argument("--max-missing", type=_count, default=0, help="nodes allowed to lack a result (default 0)")
    cp.add_argument("--exclude-label", action="append", default=[], help="drop manifest rows with this label")
    cp.add_argument("--out", default="reports/compare",
                    help="output folder (index.html, tables.xlsx, figures/): new or empty, or an earlier "
                         "compare output (with --force); never a folder holding other files")
    cp.add_argument("--force", action="store_true", help="replace an earlier `benchmark compare` output in --out")
    cp.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add_seed(cp)
    cp.add_argument("--title", default="Y-Net versus the original ultrasound reports")
    cp.add_argument("--synthetic", action="store_true", help="mark the page as synthetic demonstration data")
    cp.add_argument("--unit-name", default="node",
                    help="what one manifest row is (node, lesion, nodule, lymph node, …): used in every caption")
    cp.add_argument("--readers", metavar="READINGS",
                    help="reader-study readings (.csv/.xlsx, one row per reading: test, reader, case, truth, "
                         "rating): adds a 'Reader study' section, the MRMC analysis of `benchmark mrmc`")
    cp.add_argument("--reference", metavar="NAME",
                    help="the reference standard's name on the page (e.g. biopsy, 'TI-RADS category'); default: "
                         "the manifest's label_source when every scored row has the same one (tirads → "
                         "TI-RADS category), otherwise pathology")
    cp.add_argument("--unit", choices=("node", "patient"),
                    help="unit of analysis: patient = clustered CIs and tests (default when patient_id repeats), "
                         "node = rows treated as independent")
    cp.set_defaults(func=cmd_compare)

    dm = sub.add_parser("demo", help="the whole chain on the shipped synthetic cohort (a few minutes on a CPU)")
    dm.add_argument("--out", default=DEMO_OUT,
                    help=f"the page's folder: new or empty, or an earlier demo output (replaced); default "
                         f"{DEMO_OUT} in the current folder")
    dm.add_argument("--epochs", type=_bounded_count(MAX_DEMO_EPOCHS, 1), default=12,
                    help="training epochs of each network (default 12)")
    add_seed(dm)
    dm.add_argument("--runs", "--keep-runs", dest="keep_runs", metavar="FOLDER",
                    help="where the classified reports and training runs are kept (new or empty, or the "
                         "demo's earlier one; default: OUT-runs beside the page)")
    dm.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    args = parse_command_line(build_parser(), argv)
    if isinstance(args, int):
        return args
    return run_command(f"benchmark {args.command}", lambda: args.func(args), debug=args.debug,
                       expected=(ValueError,), extra=EXTRAS.get(args.command))


if __name__ == "__main__":
    sys.exit(main())
