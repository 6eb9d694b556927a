"""Hostile but plausible inputs for every command, generated, and the checks every run must pass.

Issue 10 asks that for each case: the exit status is the expected one, no traceback is
printed, a failed run writes nothing (no half-written output, no temporary file beside it
or in $TMPDIR), every input is byte-identical afterwards (SHA-256 before and after), nothing
is written outside the declared output, and the heavy cases run in bounded memory (a
subprocess under ``resource.setrlimit(RLIMIT_AS)``).

:func:`build_world` writes the inputs (small tables, a phantom cohort of tiny images, a
one-epoch checkpoint); :func:`cases` lists the runs; :func:`run_case` runs one and returns
its :class:`Outcome`. ``tests/test_hostile.py`` asserts on every case, and
``python -m tests.hostile_summary`` prints the summary quoted in the README.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULES = {"reportmine": "reportmine.cli", "benchmark": "reportmine.bench_cli", "ynet": "ynet.cli"}

REPORTS = [
    ("r1", "Right level III node with microcalcification; suspicious for metastasis."),
    ("r2", "No abnormal cervical lymph nodes."),
    ("r3", "右侧颈部III区淋巴结内见微钙化；淋巴门消失。"),
    ("r4", "双侧颈部未见明显肿大淋巴结。"),
    ("r5", "=HYPERLINK(\"http://x\";\"click\") reactive hyperplasia"),
    ("r6", "@SUM(A1) normal lymph node"),
    ("r7", ""),
    ("r8", "Left level IV lymph node; metastasis cannot be excluded."),
]


@dataclass(frozen=True)
class Case:
    """One run: ``argv`` with ``{w}`` standing for the world folder."""

    name: str
    tool: str
    argv: tuple[str, ...]
    expect: int = 2
    kind: str = ""
    finding: int | None = None
    outputs: tuple[str, ...] = ()  # world-relative paths the command may create or replace
    says: str = ""  # a fragment the one-line error must hold
    cwd: str = ""
    memory_mb: int = 0  # > 0: a subprocess limited to this much address space
    prepare: str = ""  # a step of PREPARE run before the inputs are hashed
    needs_model: bool = False
    listing: bool = False  # the problems are the command's output (dictionary check), not one line
    # issue 25 (see tests/hostile_classes.py, which generates most of these from declarations)
    timeout_s: int = 0  # > 0: a subprocess killed after this long counts as a hang
    disk: str = ""  # "fsize:BYTES" (the kernel refuses larger writes) or "tmpfs:KIB" (a small disk at {w}/full)
    signal: str = ""  # "term" or "kill", sent once the command is writing (a file of its own appears)
    signal_when: str = ""  # a world-relative path whose appearance triggers the signal (default: a .tmp- file)
    retry: tuple[str, ...] | None = None  # after the signal: the same argv plus these, expected to exit 0
    home: bool = False  # run with HOME={w}/home
    leaves: tuple[str, ...] = ()  # outputs a failed or interrupted run may keep (a resumable run's checkpoints)


@dataclass
class Outcome:
    case: Case
    status: int
    stdout: str
    stderr: str
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    tmp_left: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    retry_status: int | None = None
    peak_mb: float | None = None

    @property
    def crashed(self) -> bool:
        return ("Traceback" in self.stderr or "internal error" in self.stderr
                or self.status not in (0, 2, self.case.expect) or self.status != self.case.expect
                or self.retry_status not in (None, 0))

    @property
    def half_written(self) -> bool:
        outside = [p for p in self.new if not _under(p, self.case.outputs)]
        kept = [p for p in self.new if not _under(p, self.case.leaves)]
        failed = self.status != 0 and (self.retry_status is None or self.retry_status != 0)
        return bool(self.tmp_left) or (failed and bool(kept)) or bool(outside)

    @property
    def inputs_modified(self) -> bool:
        return bool(self.changed)

    @property
    def clean_error(self) -> bool:
        return self.status == 2 and not self.problems

    @property
    def ok(self) -> bool:
        return not self.problems


def _under(path: str, outputs) -> bool:
    return any(path == o or path.startswith(o.rstrip("/") + "/") for o in outputs)


# ------------------------------------------------------------------ the world

def _write_csv(path: Path, rows, header=("id", "report_text"), encoding="utf-8"):
    import csv

    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_xlsx(path: Path, rows, header=("id", "report_text")):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text starting with "=" stays text, as in a real export
    wb.save(path)


def build_world(root: Path, *, with_model: bool = True) -> Path:
    """Write every input the cases use under ``root/world``; keep a pristine copy."""
    world = root / "world"
    world.mkdir(parents=True)
    rng = random.Random(10)
    _write_csv(world / "reports.csv", REPORTS)
    _write_xlsx(world / "reports.xlsx", REPORTS)
    _write_csv(world / "reports_gbk.csv", REPORTS[:5], encoding="gb18030")
    (world / "out").mkdir()
    (world / "cwd").mkdir()
    (world / "mywork").mkdir()
    (world / "mywork" / "thesis.txt").write_text("my own work, not an output\n")
    dictionary = world / "dict"
    dictionary.mkdir()
    shutil.copy(REPO / "dictionaries" / "en.csv", dictionary / "en.csv")

    t = world / "t"
    t.mkdir()
    (t / "empty.csv").write_bytes(b"")
    (t / "header_only.csv").write_text("id,report_text\n")
    (t / "binary.csv").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    (t / "nul.csv").write_bytes(b"id,report_text\nr1,normal\x00 lymph node\n")
    lines = [b"id,report_text"] + [f"r{i},normal lymph node {i}".encode() for i in range(2, 6)]
    lines.insert(3, b"r3,abnormal \xff\xfe lymph node")  # row 4 holds bytes of no encoding
    (t / "badbyte_row4.csv").write_bytes(b"\n".join(lines) + b"\n")
    (t / "bom_only.csv").write_bytes(b"\xef\xbb\xbf")
    _write_csv(t / "no_text.csv", [("a", "1"), ("b", "2")], header=("id", "n"))
    (t / "ragged.csv").write_text("id,report_text\nr1,normal\nr2,a,b,c,d\n")
    (t / "unclosed_quote.csv").write_text('id,report_text\nr1,"normal lymph node\nr2,x\n')
    _write_csv(t / "huge_cell.csv", [("r1", "甲状腺回声均匀。" * 130_000), ("r2", "metastasis")])
    _write_csv(t / "crlf.csv", REPORTS[:3])
    (t / "crlf.csv").write_bytes((t / "crlf.csv").read_bytes().replace(b"\n", b"\r\n"))
    (t / "utf16.csv").write_bytes("id,report_text\nr1,normal lymph node\n".encode("utf-16"))
    (t / "notzip.xlsx").write_text("this is not a workbook")
    with zipfile.ZipFile(t / "badzip.xlsx", "w") as z:
        z.writestr("hello.txt", "a zip without a workbook")
    _write_xlsx(t / "formulas.xlsx", [("f1", "=1+1"), ("f2", "+cmd|' /C calc'!A0"), ("f3", "-2+3")])
    (t / "truncated.xlsx").write_bytes((world / "reports.xlsx").read_bytes()[:700])
    _write_xlsx(t / "numbers.xlsx", [("n1", 12345), ("n2", 3.5), ("n3", None)])
    _write_xlsx(t / "header_only.xlsx", [])
    (t / "folder.csv").mkdir()
    (t / "noext").write_text("id,report_text\nr1,normal\n")
    (t / "reports.txt").write_text("id,report_text\nr1,normal\n")
    os.symlink("loop.csv", t / "loop.csv")
    os.symlink("missing-target.csv", t / "dangling.csv")
    os.mkfifo(t / "fifo.csv")
    _write_csv(t / "victim.evidence.csv", REPORTS[:3])
    os.symlink(world / "reports.csv", t / "link_to_reports.csv")
    os.link(world / "reports.csv", t / "hardlink_to_reports.csv")
    _write_csv(t / "many_columns.csv", [tuple(["r1", "normal lymph node"] + ["x"] * 3000)],
               header=tuple(["id", "report_text"] + [f"c{i}" for i in range(3000)]))

    for name, text in (("bad", "term,category,language,match,min_score,case_sensitive,note\nfoo,nonsense,en,exact,,no,\n"),
                       ("nocols", "just,some,columns\n1,2,3\n")):
        (world / f"dict_{name}").mkdir()
        (world / f"dict_{name}" / "d.csv").write_text(text)
    (world / "dict_binary").mkdir()
    (world / "dict_binary" / "d.csv").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
    (world / "dict_empty").mkdir()

    roc = world / "roc"
    roc.mkdir()
    labels = [1, 0] * 15
    scores = [round(0.3 + 0.4 * y + rng.uniform(-0.3, 0.3), 3) for y in labels]
    other = [round(rng.random(), 3) for _ in labels]
    _write_csv(roc / "good.csv", zip(labels, scores, other), header=("label", "score", "score2"))
    _write_xlsx(roc / "good.xlsx", zip(labels, scores), header=("label", "score"))
    (roc / "header.csv").write_text("label,score\n")
    (roc / "empty.csv").write_bytes(b"")
    _write_csv(roc / "one_class.csv", [(1, 0.2), (1, 0.4), (1, 0.9)], header=("label", "score"))
    _write_csv(roc / "nan.csv", [(1, 0.2), (0, "nan"), (1, 0.9), (0, 0.1)], header=("label", "score"))
    _write_csv(roc / "inf.csv", [(1, 0.2), (0, "inf"), (1, 0.9), (0, 0.1)], header=("label", "score"))
    _write_csv(roc / "text.csv", [(1, 0.2), (0, "high"), (1, 0.9), (0, 0.1)], header=("label", "score"))
    _write_csv(roc / "labels3.csv", [(1, 0.2), (0, 0.3), (2, 0.9), (0, 0.1)], header=("label", "score"))
    (roc / "binary.csv").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))

    (world / "cls").mkdir()
    from reportmine.mining.batch import classify_file

    classify_file(world / "reports.csv", world / "cls" / "reports.classified.csv")
    _write_csv(world / "context.csv", [("No metastasis in level III.", "metastasis"),
                                        ("Possible necrosis in the node.", "necrosis"),
                                        ("", "calcification")], header=("text", "term"))
    _build_cohort(world, with_model)
    import hostile_classes

    hostile_classes.build(world)
    return world


def _build_cohort(world: Path, with_model: bool) -> None:
    import numpy as np
    import pandas as pd
    from PIL import Image

    from reportmine.compare.demo import make_demo_cohort

    cohort = world / "cohort"
    manifest = make_demo_cohort(cohort, n=40, seed=3)
    _shrink_cohort(cohort, manifest)
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    test = frame[frame["split"] == "test"]
    rng = np.random.default_rng(0)
    probs = np.clip(0.5 + 0.3 * (test["label"] == "malignant") + rng.normal(0, 0.2, len(test)), 0.01, 0.99)
    preds = world / "preds"
    preds.mkdir()
    good = pd.DataFrame({"ln_id": test["ln_id"].tolist(), "prob_malignant": probs})
    good.to_csv(preds / "good.csv", index=False)
    for name, value in (("seven", 7.5), ("minus", -3), ("nan", "nan"), ("text", "high"), ("blank", "")):
        bad = good.astype({"prob_malignant": object})
        bad.loc[bad.index[2], "prob_malignant"] = value
        bad.to_csv(preds / f"{name}.csv", index=False)
    pd.concat([good, good.iloc[:1]]).to_csv(preds / "dup.csv", index=False)
    pd.DataFrame({"ln_id": ["zz1", "zz2"], "prob_malignant": [0.2, 0.9]}).to_csv(preds / "other.csv", index=False)
    (preds / "header.csv").write_text("ln_id,prob_malignant\n")
    good.rename(columns={"prob_malignant": "p"}).to_csv(preds / "noprob.csv", index=False)

    # a manifest whose node ids try to leave any folder named after them
    evil = frame.copy()
    evil.loc[evil.index[0], "ln_id"] = "../../escaped"
    evil.loc[evil.index[1], "ln_id"] = str(world / "absolute_escape")
    evil.loc[evil.index[2], "ln_id"] = "nul"
    evil.to_csv(cohort / "evil_ids.csv", index=False)
    one_class = frame[frame["label"] == "benign"]
    one_class.to_csv(cohort / "one_class.csv", index=False)
    frame.iloc[:2].to_csv(cohort / "two_rows.csv", index=False)
    frame.drop(columns=["image"]).to_csv(cohort / "no_image_col.csv", index=False)
    # a training row in the third batch of eight (rows 17-24 of the manifest)
    third_batch = next(i for i in range(16, 24) if frame.loc[frame.index[i], "split"] == "train")
    broken = frame.copy()
    broken.loc[broken.index[third_batch], "image"] = "images/not_an_image.png"
    (cohort / "images" / "not_an_image.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    broken.to_csv(cohort / "bad_image_row.csv", index=False)
    missing = frame.copy()
    missing.loc[missing.index[third_batch], "image"] = "images/does_not_exist.png"
    missing.to_csv(cohort / "missing_image.csv", index=False)
    labels = frame.copy()
    labels.loc[labels.index[3], "label"] = "maybe"
    labels.to_csv(cohort / "bad_label.csv", index=False)
    (cohort / "splits_no_split.csv").write_text("id,part\n" + "".join(f"{i},test\n" for i in frame["ln_id"]))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(world / "tiny.png")
    if with_model:
        _train_tiny_model(world, manifest)


def _shrink_cohort(cohort: Path, manifest: Path) -> None:
    """Tiny images (64 px wide) keep every run of the suite fast."""
    from PIL import Image

    for folder in ("images", "masks"):
        for path in sorted((cohort / folder).glob("*.png")):
            with Image.open(path) as im:
                im.resize((72, 64), Image.NEAREST).save(path)


def _train_tiny_model(world: Path, manifest: Path) -> None:
    from ynet.train import TrainConfig, train

    run = world / "run"
    train(manifest, run, TrainConfig(fold=0, epochs=1, width=0.25, image_size=32, batch_size=8, seed=1,
                                     device="cpu"), progress=False)
    _craft_checkpoints(world, run / "fold_0" / "best.pt")


def _craft_checkpoints(world: Path, good: Path) -> None:
    import torch

    state = torch.load(good, weights_only=True)
    crafted = world / "crafted"
    crafted.mkdir()
    for name, value in (("prep_string", "boom"), ("prep_list", [1, 2, 3]), ("prep_unknown", {"nonsense": 1}),
                        ("prep_huge", {"size": 10**9}), ("prep_negative", {"size": -5}),
                        ("prep_types", {"size": "large"})):
        torch.save({**state, "preprocessing": value}, crafted / f"{name}.pt")
    torch.save({**state, "config": {"width": float("inf")}}, crafted / "config_inf.pt")
    torch.save({**state, "state_dict": {}}, crafted / "no_weights.pt")
    (crafted / "text.pt").write_text("not a checkpoint")
    torch.save({"format": "something-else"}, crafted / "foreign.pt")


def _earlier_compare(world: Path) -> None:
    """An earlier `benchmark compare` output in out/page (for --force)."""
    from reportmine.core.outputs import FolderOutput

    with FolderOutput(world / "out" / "page", "benchmark compare") as stage:
        (stage / "index.html").write_text("<p>earlier</p>")
        (stage / "figures").mkdir()
        (stage / "figures" / "stale.png").write_bytes(b"png")


def _earlier_compare_plus_mine(world: Path) -> None:
    _earlier_compare(world)
    (world / "out" / "page" / "my_notes.txt").write_text("added by the user")


def _previous_run(world: Path) -> None:
    shutil.copytree(world / "run", world / "out" / "prev")


def _earlier_masks(world: Path) -> None:
    from reportmine.core.outputs import FolderOutput

    with FolderOutput(world / "out" / "masks", "ynet predict") as stage:
        (stage / "old.png").write_bytes(b"png")


PREPARE: dict[str, Callable[[Path], None]] = {
    "earlier_compare": _earlier_compare,
    "earlier_compare_plus_mine": _earlier_compare_plus_mine,
    "previous_run": _previous_run,
    "earlier_masks": _earlier_masks,
}


# ------------------------------------------------------------------ the cases

def cases(with_model: bool = True) -> list[Case]:
    """Every case, named; ``with_model=False`` drops those that need the trained checkpoint."""
    c: list[Case] = []

    def add(name, tool, *argv, **kw):
        c.append(Case(name, tool, tuple(str(a) for a in argv), **kw))

    w = "{w}"
    # ---- reportmine classify: input tables
    add("classify-csv", "reportmine", "classify", f"{w}/reports.csv", "--quiet", expect=0, kind="baseline",
        outputs=("reports.classified.csv", "reports.classified.evidence.csv", "reports.classified.run.json"))
    add("classify-xlsx", "reportmine", "classify", f"{w}/reports.xlsx", "--quiet", expect=0, kind="baseline",
        outputs=("reports.classified.xlsx",))
    add("classify-gb18030", "reportmine", "classify", f"{w}/reports_gbk.csv", "--quiet", "--out",
        f"{w}/out/gbk.xlsx", expect=0, kind="encoding", outputs=("out/gbk.xlsx",))
    add("classify-huge-cell", "reportmine", "classify", f"{w}/t/huge_cell.csv", "--quiet", "--out",
        f"{w}/out/huge.csv", expect=0, kind="size", outputs=("out/huge.csv", "out/huge.evidence.csv",
                                                             "out/huge.run.json"))
    add("classify-formulas", "reportmine", "classify", f"{w}/t/formulas.xlsx", "--quiet", "--out",
        f"{w}/out/f.xlsx", expect=0, kind="injection", outputs=("out/f.xlsx",))
    add("classify-crlf", "reportmine", "classify", f"{w}/t/crlf.csv", "--quiet", "--out", f"{w}/out/crlf.csv",
        expect=0, kind="encoding", outputs=("out/crlf.csv", "out/crlf.evidence.csv", "out/crlf.run.json"))
    add("classify-numbers-only", "reportmine", "classify", f"{w}/t/numbers.xlsx", "--quiet", "--text-col",
        "report_text", "--out", f"{w}/out/n.xlsx", expect=0, kind="structure", outputs=("out/n.xlsx",))
    add("classify-many-columns", "reportmine", "classify", f"{w}/t/many_columns.csv", "--quiet", "--text-col",
        "report_text", "--out", f"{w}/out/m.xlsx", expect=0, kind="size", outputs=("out/m.xlsx",))
    add("classify-nul-byte", "reportmine", "classify", f"{w}/t/nul.csv", "--quiet", "--out", f"{w}/out/nul.csv",
        expect=0, kind="encoding", outputs=("out/nul.csv", "out/nul.evidence.csv", "out/nul.run.json"))
    for name, says in (("empty.csv", "empty file"), ("header_only.csv", "no data rows"), ("binary.csv", "decode"),
                       ("badbyte_row4.csv", "row 4"), ("bom_only.csv", "empty"), ("no_text.csv", "report text"),
                       ("ragged.csv", "malformed CSV"), ("unclosed_quote.csv", ""), ("utf16.csv", ""),
                       ("notzip.xlsx", "not a readable .xlsx"), ("badzip.xlsx", "not a readable .xlsx"),
                       ("truncated.xlsx", "not a readable .xlsx"), ("header_only.xlsx", "no data rows"),
                       ("folder.csv", "is a folder"), ("noext", "unsupported file type"),
                       ("reports.txt", "unsupported file type"), ("loop.csv", "not found"),
                       ("dangling.csv", "not found"), ("fifo.csv", "not a regular file"),
                       ("missing.csv", "not found")):
        add(f"classify-input-{name}", "reportmine", "classify", f"{w}/t/{name}", "--quiet", "--out",
            f"{w}/out/x.xlsx", kind="input table", says=says, finding=10 if name == "badbyte_row4.csv" else None)
    for name, extra, says in (("missing-text-col", ("--text-col", "nope"), "no column 'nope'"),
                              ("missing-id-col", ("--id-col", "nope"), "no column 'nope'"),
                              ("sheet-on-csv", ("--sheet", "x"), "--sheet applies to .xlsx"),
                              ("unknown-encoding", ("--encoding", "klingon"), "unknown encoding"),
                              ("bad-dictionary", ("--dictionary", f"{w}/dict_bad"), "unknown category"),
                              ("binary-dictionary", ("--dictionary", f"{w}/dict_binary"), ""),
                              ("empty-dictionary-folder", ("--dictionary", f"{w}/dict_empty"), "no .csv"),
                              ("bad-lang", ("--lang", "fr"), "invalid choice")):
        add(f"classify-{name}", "reportmine", "classify", f"{w}/reports.csv", "--quiet", "--out", f"{w}/out/x.csv",
            *extra, kind="option", says=says, finding=7 if name == "sheet-on-csv" else None)
    add("classify-encoding-error-row", "reportmine", "classify", f"{w}/t/badbyte_row4.csv", "--quiet",
        "--encoding", "utf-8", "--out", f"{w}/out/x.csv", kind="encoding", says="row 4", finding=10)
    add("classify-xlsx-missing-sheet", "reportmine", "classify", f"{w}/reports.xlsx", "--quiet", "--sheet",
        "nope", "--out", f"{w}/out/x.xlsx", kind="option", says="no sheet")
    # ---- reportmine classify: where it writes
    for name, out, says, finding in (
            ("out-is-input", f"{w}/reports.csv", "would overwrite the input", 4),
            ("out-is-input-other-spelling", f"{w}/out/../reports.csv", "would overwrite the input", 4),
            ("out-symlink-to-input", f"{w}/t/link_to_reports.csv", "would overwrite the input", 4),
            ("out-hardlink-to-input", f"{w}/t/hardlink_to_reports.csv", "would overwrite the input", 4),
            ("out-is-folder", f"{w}/out", "", 6), ("out-is-folder-named-csv", f"{w}/t/folder.csv", "folder", 6),
            ("out-in-missing-folder", f"{w}/nowhere/x.csv", "does not exist", 6),
            ("out-under-a-file", f"{w}/reports.xlsx/x.csv", "", 6),
            ("out-in-proc", "/proc/x.xlsx", "", 6), ("out-dev-null", "/dev/null", "", 6),
            ("out-wrong-suffix", f"{w}/out/x.txt", ".csv or .xlsx", None)):
        add(f"classify-{name}", "reportmine", "classify", f"{w}/reports.csv", "--quiet", "--out", out,
            kind="output path", says=says, finding=finding)
    add("classify-evidence-sidecar-over-input", "reportmine", "classify", f"{w}/t/victim.evidence.csv",
        "--quiet", "--out", f"{w}/t/victim.csv", kind="output path", says="would overwrite the input", finding=4)
    add("classify-out-over-dictionary", "reportmine", "classify", f"{w}/reports.csv", "--quiet", "--dictionary",
        f"{w}/dict/en.csv", "--out", f"{w}/dict/en.csv", kind="output path", says="would overwrite the input",
        finding=4)
    add("classify-run-json-over-input", "reportmine", "classify", f"{w}/reports.csv", "--quiet", "--dictionary",
        f"{w}/dict/en.csv", "--out", f"{w}/dict/en.run.csv", kind="output path", expect=0,
        outputs=("dict/en.run.csv", "dict/en.run.evidence.csv", "dict/en.run.run.json"))
    # ---- reportmine classify --jobs, context, review
    add("classify-jobs-2", "reportmine", "classify", f"{w}/reports.csv", "--quiet", "--jobs", 2, "--out",
        f"{w}/out/j.csv", expect=0, kind="option", outputs=("out/j.csv", "out/j.evidence.csv", "out/j.run.json"))
    add("classify-jobs-negative", "reportmine", "classify", f"{w}/reports.csv", "--quiet", "--jobs", -3,
        "--out", f"{w}/out/j.csv", kind="numeric option", says="--jobs")
    add("context-ok", "reportmine", "context", f"{w}/context.csv", "--text-col", "text", "--term-col", "term",
        "--out", f"{w}/out/ctx.xlsx", "--quiet", expect=0, kind="baseline", outputs=("out/ctx.xlsx",))
    for name, argv, says in (
            ("out-is-input", ("--out", f"{w}/context.csv"), "would overwrite the input"),
            ("out-is-folder", ("--out", f"{w}/out"), "folder"),
            ("out-in-proc", ("--out", "/proc/ctx.xlsx"), ""),
            ("missing-term-col", ("--term-col", "nope", "--out", f"{w}/out/ctx.xlsx"), "nope")):
        extra = list(argv) if "--term-col" in argv else ["--term-col", "term", *argv]
        add(f"context-{name}", "reportmine", "context", f"{w}/context.csv", "--text-col", "text", *extra,
            "--quiet", kind="output path" if "out" in name else "option", says=says)
    for name in ("binary.csv", "empty.csv", "fifo.csv", "badbyte_row4.csv"):
        add(f"context-input-{name}", "reportmine", "context", f"{w}/t/{name}", "--text-col", "report_text",
            "--term-col", "id", "--out", f"{w}/out/ctx.xlsx", "--quiet", kind="input table")
    review_in = f"{w}/cls/reports.classified.csv"
    add("review-ok", "reportmine", "review", review_in, "--out", f"{w}/out/review.html", expect=0,
        kind="baseline", outputs=("out/review.html",))
    for name, argv, says in (
            ("out-not-html", ("--out", f"{w}/out/review.csv"), ".html"),
            ("out-is-folder", ("--out", f"{w}/out"), ""),
            ("out-in-proc", ("--out", "/proc/review.html"), ""),
            ("limit-negative", ("--limit", "-1", "--out", f"{w}/out/review.html"), "--limit"),
            ("gold-col-missing", ("--gold-col", "nope", "--out", f"{w}/out/review.html"), "nope")):
        add(f"review-{name}", "reportmine", "review", review_in, *argv, kind="output path" if "out" in name
            else "option", says=says)
    for name in ("binary.csv", "empty.csv", "header_only.csv", "folder.csv"):
        add(f"review-input-{name}", "reportmine", "review", f"{w}/t/{name}", "--out", f"{w}/out/review.html",
            kind="input table")
    # ---- reportmine explain / dictionary
    add("explain-binary-junk", "reportmine", "explain", "\udcff\udcfe abnormal lymph node \udc80",
        kind="encoding", says="not valid text", finding=10)
    add("explain-empty", "reportmine", "explain", "", expect=0, kind="structure")
    add("explain-nul", "reportmine", "explain", "metastasis\x00 in level III", expect=0, kind="encoding")
    add("explain-megabyte", "reportmine", "explain", "淋巴结回声均匀。" * 60_000, expect=0, kind="size")
    add("explain-junk-level", "reportmine", "explain", "Level III node: metastasis", "--level", "\udcff",
        kind="encoding", says="not valid text")
    add("dictionary-check-shipped", "reportmine", "dictionary", "check", expect=0, kind="baseline")
    add("dictionary-check-bad", "reportmine", "dictionary", "check", f"{w}/dict_bad", kind="input table",
        listing=True)
    add("dictionary-check-nocols", "reportmine", "dictionary", "check", f"{w}/dict_nocols", kind="input table",
        says="missing column")
    add("dictionary-check-binary", "reportmine", "dictionary", "check", f"{w}/dict_binary", kind="encoding")
    add("dictionary-check-empty-folder", "reportmine", "dictionary", "check", f"{w}/dict_empty",
        kind="input table", says="no .csv")
    add("dictionary-show-missing", "reportmine", "dictionary", "show", f"{w}/nope.csv", kind="input table",
        says="not found")

    # ---- benchmark calculators
    add("metrics-ok", "benchmark", "metrics", "--tp", 5, "--fp", 2, "--fn", 1, "--tn", 9, expect=0, kind="baseline")
    for name, argv in (("negative", ("--tp", -1)), ("nan", ("--tp", "nan")), ("fraction", ("--tp", "2.5")),
                       ("conf-1", ("--conf-level", 1)), ("conf-nan", ("--conf-level", "nan")),
                       ("conf-inf", ("--conf-level", "inf")), ("prevalence-0", ("--prevalence", 0)),
                       ("prevalence-nan", ("--prevalence", "nan")), ("prevalence-150", ("--prevalence", 150)),
                       ("ci-method", ("--ci-method", "magic"))):
        base = {"--tp": 5, "--fp": 2, "--fn": 1, "--tn": 9}
        base.update({argv[0]: argv[1]} if argv[0] in base else {})
        extra = () if argv[0] in base else argv
        add(f"metrics-{name}", "benchmark", "metrics", *[x for kv in base.items() for x in kv], *extra,
            kind="numeric option", finding=6 if "nan" in name else None)
    add("metrics-zero-denominator", "benchmark", "metrics", "--tp", 0, "--fp", 2, "--fn", 0, "--tn", 9,
        kind="numeric option", says="zero denominator")
    add("metrics-huge-counts", "benchmark", "metrics", "--tp", 10**15, "--fp", 10**15, "--fn", 3, "--tn", 10**15,
        expect=0, kind="numeric option")
    add("mcnemar-ok", "benchmark", "mcnemar", "--b", 10, "--c", 3, expect=0, kind="baseline")
    add("mcnemar-negative", "benchmark", "mcnemar", "--b", -1, "--c", 3, kind="numeric option")
    add("mcnemar-text", "benchmark", "mcnemar", "--b", "ten", "--c", 3, kind="numeric option")
    add("roc-ok", "benchmark", "roc", f"{w}/roc/good.csv", "--label-col", "label", "--score-col", "score",
        "--score-col", "score2", expect=0, kind="baseline")
    add("roc-xlsx", "benchmark", "roc", f"{w}/roc/good.xlsx", "--label-col", "label", "--score-col", "score",
        expect=0, kind="baseline")
    for name, says in (("header.csv", "no data rows"), ("empty.csv", ""), ("one_class.csv", "single class"),
                       ("nan.csv", "row 3"), ("inf.csv", "row 3"), ("text.csv", "row 3"), ("labels3.csv", ""),
                       ("binary.csv", ""), ("missing.csv", "not found")):
        add(f"roc-{name}", "benchmark", "roc", f"{w}/roc/{name}", "--label-col", "label", "--score-col", "score",
            kind="input table", says=says, finding=10 if name == "header.csv" else None)
    add("roc-folder", "benchmark", "roc", f"{w}/t/folder.csv", "--label-col", "label", "--score-col", "score",
        kind="input table", says="folder")
    add("roc-fifo", "benchmark", "roc", f"{w}/t/fifo.csv", "--label-col", "label", "--score-col", "score",
        kind="input table", says="not a regular file")
    add("roc-missing-column", "benchmark", "roc", f"{w}/roc/good.csv", "--label-col", "nope", "--score-col",
        "score", kind="option", says="no column 'nope'")
    add("roc-conf-nan", "benchmark", "roc", f"{w}/roc/good.csv", "--label-col", "label", "--score-col", "score",
        "--conf-level", "nan", kind="numeric option")

    # ---- benchmark reconstruct
    paper = ("--sen", "95.14", "--spe", "34.3", "--acc", "64.66", "--ppv", "59.02", "--npv", "87.71")
    add("reconstruct-paper", "benchmark", "reconstruct", *paper, "--n-pos", 1524, "--n-neg", 1535, expect=0,
        kind="baseline")
    for name, argv, finding in (
            ("sen-nan", ("--sen", "nan", "--spe", "30"), 6), ("sen-inf", ("--sen", "inf", "--spe", "30"), 6),
            ("sen-150", ("--sen", "150", "--spe", "30"), None), ("sen-negative", ("--sen", "-1", "--spe", "30"), None),
            ("sen-text", ("--sen", "high", "--spe", "30"), None),
            ("decimals-400", ("--sen", "30", "--spe", "40", "--decimals", 400), 7),
            ("decimals-negative", ("--sen", "30", "--spe", "40", "--decimals", -1), None),
            ("many-decimals", ("--sen", "30.123456789012", "--spe", "40"), 7),
            ("max-n-billion", ("--sen", "30", "--spe", "40", "--max-n", 10**9), 5),
            ("max-n-zero", ("--sen", "30", "--spe", "40", "--max-n", 0), None),
            ("n-hundred-million", ("--sen", "30", "--spe", "40", "--n", 10**8), 5),
            ("n-zero", ("--sen", "30", "--spe", "40", "--n", 0), None),
            ("n-pos-alone", ("--sen", "30", "--n-pos", 10), None),
            ("no-values", ("--n", 10), None), ("sen-only-no-sizes", ("--sen", "30"), None)):
        add(f"reconstruct-{name}", "benchmark", "reconstruct", *argv, kind="numeric option", finding=finding)
    for name, argv in (("max-n-million", (*paper, "--max-n", 10**6)),
                       ("max-n-million-consistent", ("--sen", "57.25", "--spe", "87.08", "--acc", "72.03", "--ppv",
                                                     "81.87", "--npv", "66.67", "--max-n", 10**6)),
                       ("max-n-20000", ("--sen", "30", "--spe", "40", "--max-n", 20000)),
                       ("n-million", (*paper, "--n", 10**6)),
                       ("groups-million", (*paper, "--n-pos", 10**6, "--n-neg", 10**6))):
        add(f"reconstruct-{name}", "benchmark", "reconstruct", *argv, expect=0, kind="work bound", finding=5,
            memory_mb=2000)
    add("reconstruct-sen-spe-only-million", "benchmark", "reconstruct", "--sen", "84.78", "--spe", "80.23",
        "--max-n", 10**6, expect=0, kind="work bound", finding=5, memory_mb=2000)

    # ---- benchmark compare (precomputed predictions; no model needed)
    base = ("compare", "--manifest", f"{w}/cohort/manifest.csv", "--threshold", "0.5")
    good = ("--predictions", f"{w}/preds/good.csv")
    add("compare-ok", "benchmark", *base, *good, "--out", f"{w}/out/page", expect=0, kind="baseline",
        outputs=("out/page",))
    add("compare-out-dot", "benchmark", *base, *good, "--out", ".", cwd="cwd", expect=0, kind="output path",
        finding=10, outputs=("cwd",))
    add("compare-new-parents", "benchmark", *base, *good, "--out", f"{w}/out/a/b/page", expect=0,
        kind="output path", outputs=("out/a",))
    add("compare-force-over-earlier", "benchmark", *base, *good, "--out", f"{w}/out/page", "--force", expect=0,
        kind="output path", prepare="earlier_compare", outputs=("out/page",), finding=9)
    add("compare-earlier-without-force", "benchmark", *base, *good, "--out", f"{w}/out/page",
        kind="output path", prepare="earlier_compare", says="--force", finding=1)
    add("compare-earlier-plus-user-file", "benchmark", *base, *good, "--out", f"{w}/out/page", "--force",
        kind="output path", prepare="earlier_compare_plus_mine", says="holds other files", finding=1)
    for name, out, says in (("foreign-folder", f"{w}/mywork", "holds other files"),
                            ("cohort-folder", f"{w}/cohort", "holds"),
                            ("cohort-images", f"{w}/cohort/images", "holds"),
                            ("is-a-file", f"{w}/reports.csv", "not a folder"),
                            ("under-a-file", f"{w}/reports.csv/page", "not a folder"),
                            ("in-proc", "/proc/page", "")):
        add(f"compare-out-{name}", "benchmark", *base, *good, "--out", out, "--force", kind="output path",
            says=says, finding=1 if "folder" in name or "cohort" in name else 6)
    for name, says in (("seven", "row 4"), ("minus", "row 4"), ("nan", "row 4"), ("text", "row 4"),
                       ("blank", "row 4"), ("dup", "duplicate"), ("other", "none of its ids"),
                       ("header", ""), ("noprob", "prob_malignant")):
        add(f"compare-predictions-{name}", "benchmark", *base, "--predictions", f"{w}/preds/{name}.csv", "--out",
            f"{w}/out/page", kind="input table", says=says, finding=7 if name in ("seven", "minus", "nan") else None)
    for name, argv in (("threshold-7", ("--threshold", "7")), ("threshold-nan", ("--threshold", "nan")),
                       ("max-missing-negative", ("--max-missing", "-1"))):
        add(f"compare-{name}", "benchmark", "compare", "--manifest", f"{w}/cohort/manifest.csv", *good, *argv,
            "--out", f"{w}/out/page", kind="numeric option", finding=7)
    for name, manifest, says in (("binary", f"{w}/t/binary.csv", ""), ("missing", f"{w}/nope.csv", "not found"),
                                 ("one-class", f"{w}/cohort/one_class.csv", ""),
                                 ("no-image-col", f"{w}/cohort/no_image_col.csv", "image"),
                                 ("bad-label", f"{w}/cohort/bad_label.csv", "row 5")):
        add(f"compare-manifest-{name}", "benchmark", "compare", "--manifest", manifest, "--threshold", "0.5",
            *good, "--out", f"{w}/out/page", kind="input table", says=says)
    add("demo-foreign-out", "benchmark", "demo", "--out", f"{w}/mywork", kind="output path",
        says="holds other files", finding=1)
    add("demo-epochs-0", "benchmark", "demo", "--out", f"{w}/out/demo", "--epochs", 0, kind="numeric option",
        finding=7)
    _ynet_cases(add, w)
    import hostile_classes

    c.extend(hostile_classes.generated_cases(Case, w))
    return c if with_model else [x for x in c if not x.needs_model]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _ynet_cases(add, w: str) -> None:
    manifest = f"{w}/cohort/manifest.csv"
    tiny = ("--fold", "0", "--epochs", "1", "--width", "0.125", "--image-size", "32", "--batch-size", "8",
            "--device", "cpu", "--quiet")
    add("train-ok", "ynet", "train", "--manifest", manifest, "--out", f"{w}/out/run", *tiny, expect=0,
        kind="baseline", outputs=("out/run",))
    for name, option, value, finding in (
            ("epochs-0", "--epochs", "0", 7), ("epochs-negative", "--epochs", "-1", 7), ("patience-0", "--patience", "0", 7),
            ("batch-size-0", "--batch-size", "0", 10), ("test-fraction-1.5", "--test-fraction", "1.5", 7),
            ("test-fraction-0", "--test-fraction", "0", 7), ("test-fraction-nan", "--test-fraction", "nan", 7),
            ("width-inf", "--width", "inf", 6), ("width-64", "--width", "64", 6), ("width-0", "--width", "0", 6),
            ("image-size-30", "--image-size", "30", None), ("image-size-huge", "--image-size", "100000", None),
            ("lr-nan", "--lr", "nan", None), ("lr-0", "--lr", "0", None), ("fold-7", "--fold", "7", None),
            ("dice-weight-inf", "--dice-weight", "inf", None)):
        argv = list(tiny)
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
        add(f"train-{name}", "ynet", "train", "--manifest", manifest, "--out", f"{w}/out/run", *argv,
            kind="numeric option", finding=finding, says=option if name != "fold-7" else "fold")
    add("train-folds-1", "ynet", "train", "--manifest", manifest, "--out", f"{w}/out/run", "--folds", "1",
        "--epochs", "1", kind="numeric option", says="--folds")
    for name, path, says, finding in (
            ("one-class", f"{w}/cohort/one_class.csv", "both classes", 7),
            ("two-rows", f"{w}/cohort/two_rows.csv", "patient", 10),
            ("binary", f"{w}/t/binary.csv", "", None), ("missing", f"{w}/nope.csv", "not found", None),
            ("no-image-col", f"{w}/cohort/no_image_col.csv", "image", None),
            ("bad-label", f"{w}/cohort/bad_label.csv", "row 5", None),
            ("missing-image", f"{w}/cohort/missing_image.csv", "does_not_exist", 8),
            ("bad-image", f"{w}/cohort/bad_image_row.csv", "not_an_image", 8)):
        add(f"train-manifest-{name}", "ynet", "train", "--manifest", path, "--out", f"{w}/out/run", *tiny,
            kind="input table", says=says, finding=finding)
    if not _has_cuda():  # the refusal is only a refusal on a machine without CUDA
        add("train-device-cuda", "ynet", "train", "--manifest", manifest, "--out", f"{w}/out/run",
            *[x if x != "cpu" else "cuda" for x in tiny], kind="option", says="CUDA", finding=8)
    add("train-out-is-a-file", "ynet", "train", "--manifest", manifest, "--out", f"{w}/reports.csv", *tiny,
        kind="output path", says="not a folder", finding=6)
    add("train-out-previous-run", "ynet", "train", "--manifest", manifest, "--out", f"{w}/out/prev", *tiny,
        kind="output path", says="previous run", prepare="previous_run", needs_model=True)

    model = f"{w}/run/fold_0/best.pt"
    base = ("predict", "--model", model)
    out = ("--out", f"{w}/out/p.csv")
    add("predict-ok", "ynet", *base, "--manifest", manifest, *out, "--masks-dir", f"{w}/out/masks", expect=0,
        kind="baseline", outputs=("out/p.csv", "out/masks"), needs_model=True)
    add("predict-images", "ynet", *base, "--images", f"{w}/cohort/images/ph0001.png", f"{w}/tiny.png", *out,
        expect=0, kind="baseline", outputs=("out/p.csv",), needs_model=True)
    add("predict-evil-ids", "ynet", *base, "--manifest", f"{w}/cohort/evil_ids.csv", *out, "--masks-dir",
        f"{w}/out/masks", expect=0, kind="path", finding=3, outputs=("out/p.csv", "out/masks"), needs_model=True)
    add("predict-force-over-earlier-masks", "ynet", *base, "--manifest", manifest, *out, "--masks-dir",
        f"{w}/out/masks", "--force", expect=0, kind="output path", outputs=("out/p.csv", "out/masks"),
        prepare="earlier_masks", needs_model=True)
    add("predict-earlier-masks-without-force", "ynet", *base, "--manifest", manifest, *out, "--masks-dir",
        f"{w}/out/masks", kind="output path", says="--force", prepare="earlier_masks", needs_model=True)
    for name, argv, says, finding in (
            ("out-is-model", ("--manifest", manifest, "--out", model), "would overwrite the input", 4),
            ("out-is-image", ("--images", f"{w}/tiny.png", "--out", f"{w}/tiny.png"), "would overwrite the input", 4),
            ("out-is-manifest", ("--manifest", manifest, "--out", manifest), "would overwrite the input", 4),
            ("out-is-reference-mask", ("--manifest", manifest, "--out", f"{w}/cohort/masks/ph0001.png"),
             "would overwrite the input", 4),
            ("out-is-folder", ("--manifest", manifest, "--out", f"{w}/out"), "folder", 6),
            ("out-in-proc", ("--manifest", manifest, "--out", "/proc/p.csv"), "", 6),
            ("out-not-csv", ("--manifest", manifest, "--out", f"{w}/out/p.txt"), ".csv", None),
            ("masks-dir-reference-masks", ("--manifest", manifest, *out, "--masks-dir", f"{w}/cohort/masks"),
             "holds the input", 2),
            ("masks-dir-image-folder", ("--images", f"{w}/cohort/images/ph0002.png", *out, "--masks-dir",
                                        f"{w}/cohort/images"), "holds the input", 2),
            ("masks-dir-is-a-file", ("--manifest", manifest, *out, "--masks-dir", f"{w}/reports.csv"),
             "not a folder", 6),
            ("masks-dir-foreign", ("--manifest", manifest, *out, "--masks-dir", f"{w}/mywork"), "holds other files", 2),
            ("bad-image-in-batch-3", ("--manifest", f"{w}/cohort/bad_image_row.csv", *out, "--masks-dir",
                                      f"{w}/out/masks"), "not_an_image", 9),
            ("missing-image", ("--manifest", f"{w}/cohort/missing_image.csv", *out), "does_not_exist", None),
            ("splits-without-split-column", ("--manifest", manifest, "--splits", f"{w}/cohort/splits_no_split.csv",
                                             "--split", "test", *out), "no column 'split'", 6),
            ("split-without-splits", ("--manifest", manifest, "--split", "test", *out), "--splits", None),
            ("batch-size-0", ("--manifest", manifest, *out, "--batch-size", "0"), "--batch-size", 10),
            *([("device-cuda", ("--manifest", manifest, *out, "--device", "cuda"), "CUDA", None)]
              if not _has_cuda() else []),
            ("image-not-an-image", ("--images", f"{w}/reports.csv", *out), "", None),
            ("image-missing", ("--images", f"{w}/nope.png", *out), "", None)):
        add(f"predict-{name}", "ynet", *base, *argv, kind="output path" if "out" in name or "masks" in name
            else "input", says=says, finding=finding, needs_model=True)
    add("predict-masks-dir-dot-holding-the-image", "ynet", *base, "--images", "ph0003.png", "--out",
        f"{w}/out/p.csv", "--masks-dir", ".", cwd="cohort/images", kind="output path", says="holds the input",
        finding=2, needs_model=True)
    for name in ("prep_string", "prep_list", "prep_unknown", "prep_huge", "prep_negative", "prep_types",
                 "config_inf", "no_weights", "text", "foreign"):
        add(f"predict-crafted-{name}", "ynet", "predict", "--model", f"{w}/crafted/{name}.pt", "--images",
            f"{w}/tiny.png", "--out", f"{w}/out/p.csv", kind="checkpoint", says=f"{name}.pt",
            finding=6 if name.startswith("prep") else None, needs_model=True)
    add("predict-missing-model", "ynet", "predict", "--model", f"{w}/nope.pt", "--images", f"{w}/tiny.png",
        "--out", f"{w}/out/p.csv", kind="checkpoint", says="not found")

    add("info-ok", "ynet", "info", "--json", expect=0, kind="baseline")
    add("info-widest", "ynet", "info", "--width", "4", expect=0, kind="work bound", memory_mb=6000)
    for name, value in (("inf", "inf"), ("64", "64"), ("nan", "nan"), ("0", "0"), ("negative", "-1"),
                        ("text", "wide")):
        add(f"info-width-{name}", "ynet", "info", "--width", value, kind="numeric option", finding=6,
            says="--width", memory_mb=6000 if name == "64" else 0)

    add("compare-model-ok", "benchmark", "compare", "--manifest", manifest, "--model", model, "--out",
        f"{w}/out/page", expect=0, kind="baseline", outputs=("out/page",), needs_model=True)
    add("compare-model-evil-ids", "benchmark", "compare", "--manifest", f"{w}/cohort/evil_ids.csv", "--model",
        model, "--threshold", "0.5", "--out", f"{w}/out/page", expect=0, kind="path", finding=3,
        outputs=("out/page",), needs_model=True)
    add("compare-crafted-model", "benchmark", "compare", "--manifest", manifest, "--model",
        f"{w}/crafted/prep_huge.pt", "--out", f"{w}/out/page", kind="checkpoint", says="prep_huge.pt",
        needs_model=True)
    add("compare-out-run-folder", "benchmark", "compare", "--manifest", manifest, "--model", model, "--out",
        f"{w}/run", "--force", kind="output path", says="holds the input", finding=1, needs_model=True)


# ------------------------------------------------------------------ running a case

def snapshot(root: Path) -> dict[str, str]:
    """Relative path → SHA-256 (files), 'dir', 'link:<target>' or the kind of special file."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames + filenames:
            path = base / name
            rel = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                found[rel] = "link:" + os.readlink(path)
            elif stat.S_ISDIR(mode):
                found[rel] = "dir"
            elif stat.S_ISREG(mode):
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = f"special:{stat.S_IFMT(mode)}"
    return found


def _memory_limit(mb: int):
    def apply():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    return apply


def _limits(case: Case):
    """What the child sets up before it runs: an address-space limit, a file-size limit (the
    kernel then refuses larger writes with EFBIG, in every library), SIGXFSZ ignored so the
    refusal is an error, not a kill."""
    def apply():
        import resource
        import signal as signals

        if case.memory_mb:
            resource.setrlimit(resource.RLIMIT_AS, (case.memory_mb << 20, case.memory_mb << 20))
        if case.disk.startswith("fsize:"):
            signals.signal(signals.SIGXFSZ, signals.SIG_IGN)
            limit = int(case.disk.split(":")[1])
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _env(case: Case, world: Path, tmpdir: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmpdir), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if case.home:
        env["HOME"] = str(world / "home")
    return env


def _command(case: Case, argv: list[str], world: Path, tmpdir: Path) -> list[str]:
    command = [sys.executable, "-m", MODULES[case.tool], *argv]
    if case.disk.startswith("tmpfs:"):  # a small disk of its own, in a mount namespace of its own
        kib = case.disk.split(":")[1]
        script = ('mount -t tmpfs -o size="$1"k tmpfs "$2" || exit 97; shift 3; "$@"; rc=$?; '
                  'ls -A "$(dirname "$0")/full" > "$LISTING"; exit $rc')
        command = [*UNSHARE, "sh", "-c", script, str(world / "x"), kib, str(world / "full"), "--", *command]
    return command


UNSHARE = ["unshare", "--user", "--map-root-user", "--mount"]


def tmpfs_available() -> bool:
    """Can a test mount a small tmpfs (root, or user namespaces)? Probed once."""
    global _TMPFS
    if _TMPFS is None:
        probe = tempfile.mkdtemp()
        try:
            _TMPFS = subprocess.run([*UNSHARE, "sh", "-c", f'mount -t tmpfs -o size=8k tmpfs "{probe}"'],
                                    capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _TMPFS = False
        finally:
            os.rmdir(probe)
    return _TMPFS


_TMPFS: bool | None = None


def _run_subprocess(case: Case, argv: list[str], cwd: Path, tmpdir: Path) -> tuple[int, str, str]:
    world = _world_of(cwd)
    env = _env(case, world, tmpdir)
    env["LISTING"] = str(tmpdir.parent / "full-listing.txt")
    try:
        proc = subprocess.run(_command(case, argv, world, tmpdir), cwd=cwd, env=env, capture_output=True,
                              text=True, errors="replace", timeout=case.timeout_s or 600,
                              preexec_fn=_limits(case))
    except subprocess.TimeoutExpired as exc:
        return -999, _text(exc.stdout), _text(exc.stderr) + f"\nHANG: still running after {exc.timeout} s"
    return proc.returncode, proc.stdout, proc.stderr


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def _world_of(cwd: Path) -> Path:
    return next(p for p in [cwd, *cwd.parents] if p.name == "world")


def _run_signalled(case: Case, argv: list[str], cwd: Path, tmpdir: Path) -> tuple[int, str, str]:
    """Start the command, wait until it is writing, send SIGTERM or SIGKILL; return its status."""
    import signal as signals
    import time

    world = _world_of(cwd)
    proc = subprocess.Popen([sys.executable, "-m", MODULES[case.tool], *argv], cwd=cwd,
                            env=_env(case, world, tmpdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", preexec_fn=_limits(case))
    deadline = time.monotonic() + (case.timeout_s or 300)
    trigger = (world / case.signal_when) if case.signal_when else None
    sent = False
    while proc.poll() is None and time.monotonic() < deadline:
        if trigger is not None:
            ready = trigger.exists()
        else:
            ready = any(f".tmp-{proc.pid}-" in name for _, dirs, files in os.walk(world) for name in dirs + files)
        if ready:
            proc.send_signal(signals.SIGTERM if case.signal == "term" else signals.SIGKILL)
            sent = True
            break
        time.sleep(0.01)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return -999, out, err + "\nHANG: did not stop after the signal"
    if not sent:
        err += f"\nNO SIGNAL: the command ended (exit {proc.returncode}) before it was seen writing"
    return proc.returncode, out, err


def _run_in_process(case: Case, argv: list[str], cwd: Path, tmpdir: Path) -> tuple[int, str, str]:
    import importlib

    main = importlib.import_module(MODULES[case.tool]).main
    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_tmp, old_home = os.getcwd(), tempfile.tempdir, os.environ.get("HOME")
    os.chdir(cwd)
    tempfile.tempdir = str(tmpdir)
    if case.home:
        os.environ["HOME"] = str(_world_of(cwd) / "home")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            except BaseException:  # noqa: BLE001 (an escaped exception is what we count)
                traceback.print_exc()
                status = -1
    finally:
        os.chdir(old_cwd)
        tempfile.tempdir = old_tmp
        if old_home is not None:
            os.environ["HOME"] = old_home
    return status, out.getvalue(), err.getvalue()


def _prepare(world: Path, spec: str) -> None:
    """A named step of PREPARE, or a generated one (tests/hostile_classes.py)."""
    if spec in PREPARE:
        PREPARE[spec](world)
    else:
        import hostile_classes

        hostile_classes.prepare(world, spec)


def run_case(case: Case, world: Path, pristine: Path, tmpdir: Path) -> Outcome:
    """Run one case on the world, check it, and put the world back as it was."""
    for step in filter(None, case.prepare.split(";")):
        _prepare(world, step)
    before = snapshot(world)
    argv = [a.replace("{w}", str(world)) for a in case.argv]
    cwd = world / case.cwd if case.cwd else world
    listing = tmpdir.parent / "full-listing.txt"
    listing.unlink(missing_ok=True)
    if case.signal:
        runner = _run_signalled
    elif case.memory_mb or case.timeout_s or case.disk:
        runner = _run_subprocess
    else:
        runner = _run_in_process
    status, stdout, stderr = runner(case, argv, cwd, tmpdir)
    outcome = Outcome(case, status, stdout, stderr)
    if case.retry is not None:  # an interrupted run is retried: it must then succeed
        retry_case = Case(case.name, case.tool, case.argv, timeout_s=case.timeout_s or 600, home=case.home)
        outcome.retry_status, out2, err2 = _run_subprocess(retry_case, argv + list(case.retry), cwd, tmpdir)
        outcome.stdout += out2
        outcome.stderr += ("\n--- retry ---\n" + err2) if outcome.retry_status != 0 else ""
    after = snapshot(world)
    outcome.new = sorted(set(after) - set(before))
    outcome.changed = sorted(p for p, h in before.items()
                             if after.get(p) != h and not _under(p, case.outputs))
    # a SIGKILL leaves libraries' files in $TMPDIR (openpyxl's): the system's temporary folder is
    # the system's to clean; our own leftovers beside the outputs are counted below
    outcome.tmp_left = [] if case.signal == "kill" else sorted(
        name for name in os.listdir(tmpdir) if not name.startswith(LIBRARY_CACHES))
    if case.disk.startswith("tmpfs:") and listing.exists():  # what was left on the full disk
        outcome.tmp_left += [f"full/{name}" for name in listing.read_text().split()]
    outcome.tmp_left += [p for p in after if Path(p).name.startswith(".tmp-")]
    _judge(outcome, world)
    _restore(world, pristine, tmpdir)
    return outcome


# caches a library keeps in $TMPDIR on purpose (torch's compiled kernels), not temporary files
LIBRARY_CACHES = ("torchinductor_",)


def _judge(o: Outcome, world: Path) -> None:
    case = o.case
    if o.status != case.expect:
        o.problems.append(f"exit status {o.status}, expected {case.expect}")
    if case.retry is not None and o.retry_status != 0:
        o.problems.append(f"the retry exited {o.retry_status}, expected 0")
    if "HANG:" in o.stderr or "NO SIGNAL:" in o.stderr:
        o.problems.append(o.stderr.strip().splitlines()[-1])
    if "\x1b" in o.stdout + o.stderr or "\u202e" in o.stdout + o.stderr:
        o.problems.append("a control character reached the terminal unescaped")
    import hostile_classes

    unescaped = hostile_classes.unescaped_cells(world, [p for p in o.new if _under(p, case.outputs)])
    if unescaped:
        o.problems.append(f"unescaped formula cells: {unescaped[:3]}")
    if case.signal:  # the interrupted run is judged by its status and what it left; the retry by its own
        if o.half_written:
            o.problems.append(f"left behind: new {o.new[:5]}, tmp {o.tmp_left[:5]}")
        if o.inputs_modified:
            o.problems.append(f"inputs modified: {o.changed[:5]}")
        return
    if "Traceback" in o.stderr:
        o.problems.append("traceback printed")
    if "internal error" in o.stderr:
        o.problems.append("internal error")
    if o.status != 0 and case.listing and not case.disk:
        if "error" not in o.stdout or o.stderr.strip():
            o.problems.append(f"no listing of the problems: {o.stdout.strip()[-300:]!r}")
    elif o.status != 0:
        lines = [line for line in o.stderr.splitlines() if line.strip() and not line.startswith("HANG:")]
        if len(lines) != 1 or "error:" not in lines[0]:
            o.problems.append(f"error is not one line: {o.stderr.strip()[:300]!r}")
        says = case.says.replace("{w}", str(world))
        if says and says not in o.stderr:
            o.problems.append(f"error does not say {case.says!r}: {o.stderr.strip()[:300]!r}")
    if o.half_written:
        o.problems.append(f"written on failure or outside the output: new {o.new[:5]}, tmp {o.tmp_left[:5]}")
    if o.inputs_modified:
        o.problems.append(f"inputs modified: {o.changed[:5]}")


def _restore(world: Path, pristine: Path, tmpdir: Path) -> None:
    """Make the world equal to the pristine copy again (and $TMPDIR empty)."""
    want = snapshot(pristine)
    have = snapshot(world)
    for rel in sorted(set(have) - set(want), key=len, reverse=True):
        path = world / rel
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
    for rel, digest in want.items():
        if have.get(rel) != digest and not digest.startswith(("dir", "link:", "special:")):
            if (world / rel).is_symlink() or ((world / rel).exists() and not (world / rel).is_file()):
                (world / rel).unlink()  # a prepared pipe or link in place of the file
            shutil.copy2(pristine / rel, world / rel)
    for name in os.listdir(tmpdir):
        path = Path(tmpdir) / name
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def prepare_suite(root: Path, with_model: bool = True) -> tuple[Path, Path, Path]:
    """Build the world, its pristine copy and an empty $TMPDIR under ``root``."""
    world = build_world(root, with_model=with_model)
    pristine = root / "pristine"
    shutil.copytree(world, pristine, symlinks=True, ignore=_ignore_specials)
    os.mkfifo(pristine / "t" / "fifo.csv")
    import hostile_classes

    hostile_classes.make_specials(pristine)
    tmpdir = root / "tmpdir"
    tmpdir.mkdir()
    return world, pristine, tmpdir


def _ignore_specials(folder, names):
    kinds = (stat.S_ISFIFO, stat.S_ISSOCK, stat.S_ISCHR, stat.S_ISBLK)
    return [n for n in names if any(kind(os.lstat(os.path.join(folder, n)).st_mode) for kind in kinds)]


def summary(outcomes: list[Outcome]) -> str:
    n = len(outcomes)
    clean = sum(o.clean_error for o in outcomes)
    ok_success = sum(o.status == 0 and o.ok for o in outcomes)
    crashes = sum(o.crashed for o in outcomes)
    half = sum(o.half_written for o in outcomes)
    modified = sum(o.inputs_modified for o in outcomes)
    kinds = sorted({o.case.kind for o in outcomes})
    tools = {t: sum(o.case.tool == t for o in outcomes) for t in MODULES}
    lines = [
        f"hostile-input suite: {n} cases ({', '.join(f'{t} {k}' for t, k in tools.items())}; "
        f"kinds: {', '.join(kinds)})",
        f"  clean errors (exit 2, one line, nothing written): {clean}",
        f"  expected successes (exit 0, only the declared output written): {ok_success}",
        f"  crashes (traceback, internal error or wrong exit status): {crashes}",
        f"  half-written outputs (files left on failure, temp files, writes outside the output): {half}",
        f"  inputs modified: {modified}",
        f"  hangs (special files, signals): {sum('HANG:' in o.stderr for o in outcomes)}",
        f"  unescaped formula cells or raw escape sequences: "
        f"{sum(any(p.startswith(('unescaped', 'a control')) for p in o.problems) for o in outcomes)}",
        f"  interrupted runs (SIGTERM, SIGKILL): {sum(bool(o.case.signal) for o in outcomes)}, "
        f"retried: {sum(o.retry_status is not None for o in outcomes)}, "
        f"retries failed: {sum(o.retry_status not in (None, 0) for o in outcomes)}",
    ]
    for o in outcomes:
        if o.problems:
            lines.append(f"  FAILED {o.case.name}: {'; '.join(o.problems)}")
    return "\n".join(lines)
