"""`reportmine`: classify ultrasound reports, explain one, review the labels, check or show a dictionary.

A thin layer: every command is one call into the library.
"""

from __future__ import annotations

import argparse
import logging
import sys
import unicodedata

from .core.arguments import ArgumentParser, parse_command_line
from .core.errors import EXIT_BAD_INPUT, InputError, run_command
from .mining.dictionary import (
    DictionaryError,
    check_dictionary,
    dictionary_files,
    entries_table,
    load_dictionary,
)

# The commands below import the classifier, the batch runner and the review page lazily: they
# need the `mining` extra (rapidfuzz, tqdm, jinja2), and a core install must still answer with
# the one line run_command gives for a missing extra.


def _classifier_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=("auto", "en", "zh"), default="auto",
                        help="report language (default: auto, each clause in the languages it is written in)")
    parser.add_argument("--dictionary", metavar="PATH",
                        help="a dictionary CSV or a folder of them (default: the shipped en + zh)")
    parser.add_argument("--hedge-as", choices=("indeterminate", "malignant"), default="indeterminate",
                        help="how equivocal hedges (cannot be excluded, 不除外) count (default: indeterminate)")
    parser.add_argument("--two-class", choices=("malignant", "benign"), metavar="SIDE",
                        help="map indeterminate to SIDE (malignant or benign), as in the paper's binary setting")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="reportmine", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("classify", help="label every report of a .xlsx/.csv file",
                       description="Label each report malignant / benign / indeterminate with its evidence.")
    c.add_argument("file", help="reports workbook (.xlsx) or table (.csv)")
    c.add_argument("--text-col", help="column holding the report text (default: detected)")
    c.add_argument("--id-col", help="column holding the report id (default: id/ln_id/report_id, else row)")
    c.add_argument("--sheet", help="worksheet name (default: the first)")
    c.add_argument("--encoding", help="CSV encoding (default: UTF-8, else GB18030)")
    c.add_argument("--out", help="output .xlsx or .csv (default: FILE.classified.xlsx/.csv beside FILE)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes (0 = all cores; default 1); output order and content unchanged")
    c.add_argument("--overrides", metavar="FILE",
                   help="reviewer corrections CSV (id,label,note,reviewer_label_time, as `reportmine review` "
                        "downloads): their labels replace the machine's, kept in a machine_label column")
    _classifier_options(c)

    rv = sub.add_parser("review", help="write an HTML page to review, filter and correct the labels",
                        description="Write one self-contained HTML page showing why each report got its label; "
                                    "corrections made there download as a CSV for classify --overrides.")
    rv.add_argument("file", help="a `reportmine classify` output: .xlsx, or .csv with its .evidence.csv")
    rv.add_argument("--gold-col", metavar="COL", help="column of FILE with a gold label: adds a confusion matrix "
                                                     "and the list of disagreements")
    rv.add_argument("--out", metavar="PAGE.html", help="output page (default: FILE.review.html beside FILE)")
    rv.add_argument("--limit", type=int, metavar="N", help="only the first N reports")

    x = sub.add_parser("context", help="is a concept affirmed, negated or possible? one row per (text, term)",
                       description="For every row, find the term in the text (case-insensitive, whitespace "
                                   "normalised) and write the input columns plus status (affirmed | negated | "
                                   "possible), cue, cue_span, term_span, found, temporality (recent | "
                                   "historical | hypothetical), temporality_cue, experiencer (patient | "
                                   "other) and experiencer_cue. A node concept (lymph node, "
                                   "lymphadenopathy, 淋巴结 ...) is read as 'is an abnormal node "
                                   "asserted?' (docs/mining.md).")
    x.add_argument("file", help="table (.xlsx or .csv) with a text and a term column")
    x.add_argument("--text-col", required=True, help="column holding the text")
    x.add_argument("--term-col", required=True, help="column holding the concept to assess")
    x.add_argument("--out", help="output .xlsx or .csv (default: FILE.context.xlsx/.csv beside FILE)")
    x.add_argument("--lang", choices=("auto", "en", "zh"), default="auto",
                   help="language of the cues (default: per clause, so mixed texts are read in both)")
    x.add_argument("--dictionary", metavar="PATH",
                   help="a dictionary CSV or a folder of them (default: the shipped en + zh)")
    x.add_argument("--sheet", help="worksheet name (default: the first)")
    x.add_argument("--encoding", help="CSV encoding (default: UTF-8, else GB18030)")
    x.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("explain", help="show how one text is classified, step by step")
    e.add_argument("text", help="the report text (quote it)")
    e.add_argument("--level", help="target node level (e.g. III)")
    e.add_argument("--side", help="target node side (left/right)")
    _classifier_options(e)

    d = sub.add_parser("dictionary", help="check or show a synonym dictionary")
    dsub = d.add_subparsers(dest="action", required=True)
    dc = dsub.add_parser("check", help="validate a dictionary; problems name file and line")
    dc.add_argument("path", nargs="?", help="dictionary CSV or folder (default: the shipped one)")
    ds = dsub.add_parser("show", help="print a dictionary as a table")
    ds.add_argument("path", nargs="?", help="dictionary CSV or folder (default: the shipped one)")
    ds.add_argument("--lang", choices=("en", "zh"), help="only this language")
    ds.add_argument("--category", help="only this category")
    return parser


def _classifier(args):
    from .mining.classify import ReportClassifier  # the mining extra, lazily (see above)

    return ReportClassifier(dictionary=args.dictionary, language=args.lang, hedge_as=args.hedge_as,
                            two_class=args.two_class)


def _cmd_classify(args) -> int:
    from tqdm import tqdm  # the mining extra, lazily (see above)

    from .mining.batch import classify_file

    classifier = _classifier(args)
    bar = tqdm(unit=" reports", desc="classifying", disable=True if args.quiet else None, file=sys.stderr)
    try:
        summary = classify_file(args.file, args.out, text_col=args.text_col, id_col=args.id_col,
                                sheet=args.sheet, encoding=args.encoding, classifier=classifier,
                                progress=bar.update, jobs=args.jobs,
                                overrides=args.overrides)
    finally:
        bar.close()
    print(summary.summary())
    fixes = summary.record.get("overrides")
    if fixes:
        print(f"  reviewer corrections ({fixes['file']}): {fixes['labels_overridden']} label(s) overridden, "
              f"{fixes['confirmed']} confirmed; the counts above are the machine's")
    return 0


def _cmd_context(args) -> int:
    from tqdm import tqdm  # the mining extra, lazily (see above)

    from .mining.context_table import context_file

    bar = tqdm(unit=" rows", desc="reading", disable=True if args.quiet else None, file=sys.stderr)
    try:
        summary = context_file(args.file, args.out, text_col=args.text_col, term_col=args.term_col,
                               language=args.lang, dictionary=args.dictionary, sheet=args.sheet,
                               encoding=args.encoding, progress=bar.update)
    finally:
        bar.close()
    print(summary.summary())
    return 0


def _cmd_review(args) -> int:
    from .review import write_review  # the mining extra (jinja2), lazily (see above)

    print(write_review(args.file, args.out, gold_col=args.gold_col, limit=args.limit).summary())
    return 0


def _cmd_explain(args) -> int:
    for what, value in (("text", args.text), ("--level", args.level), ("--side", args.side)):
        bad = next((ch for ch in value or "" if "\udc80" <= ch <= "\udcff"), None)
        if bad is not None:  # bytes the terminal's encoding could not decode (surrogateescape)
            raise InputError(f"{what}: byte 0x{ord(bad) - 0xDC00:02x} at character {value.index(bad) + 1} "
                             f"is not valid text in this terminal's encoding ({sys.getfilesystemencoding()})")
    result = _classifier(args).classify(args.text, level=args.level, side=args.side)
    print(result.summary())
    return 0


def _cmd_dictionary(args) -> int:
    if args.action == "check":
        files = dictionary_files(args.path)
        problems = check_dictionary(args.path)
        for problem in problems:
            print(problem)
        errors = [p for p in problems if p.severity == "error"]
        print(f"{len(files)} file(s) checked: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
        return EXIT_BAD_INPUT if errors else 0
    dictionary = load_dictionary(args.path, strict=False)
    rows = [r for r in entries_table(dictionary.entries)
            if (args.lang is None or r["language"] == args.lang)
            and (args.category is None or r["category"] == args.category)]
    columns = ("term", "category", "language", "match", "min_score", "case_sensitive", "source")
    widths = {c: max(len(c), *(_width(str(r[c])) for r in rows)) if rows else len(c) for c in columns}
    print("  ".join(_pad(c, widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(_pad(str(r[c]), widths[c]) for c in columns))
    print(f"{len(rows)} entries")
    return 0


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def main(argv=None) -> int:
    args = parse_command_line(build_parser(), argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    handlers = {"classify": _cmd_classify, "context": _cmd_context, "explain": _cmd_explain,
                "dictionary": _cmd_dictionary, "review": _cmd_review}
    return run_command("reportmine", lambda: handlers[args.command](args), debug=args.debug,
                       expected=(DictionaryError, ValueError), extra="mining")


if __name__ == "__main__":
    sys.exit(main())
