"""Issue 25's classes of hostile cases, generated from what each command declares.

A command joins these classes by one :class:`Command` line in :data:`COMMANDS`: its argv with
``{slot}`` placeholders, the file each input slot holds in the world, and its outputs (a
file, or a folder when the path ends in ``/``). From that, :func:`generated_cases` makes:

* **special files** — every input slot given a named pipe, a socket, ``/dev/zero`` and a
  folder: one line naming the path, exit 2, no hang (a subprocess with a timeout) and no
  memory blow-up (under a 3 GB address-space limit where the tool allows it);
* **symlinked outputs** — every single-file output pre-created as a link to a user's file
  and as a dangling link: refused, the user's file untouched;
* **forged markers and user folders** — every folder output over a folder whose marker
  lists a user's file (old list form, wrong hash, wrong size), over the home folder, ``/``
  and a folder holding an input: refused (with ``--force`` where the command has it);
* **full disks** — every command's successful run repeated with the kernel refusing writes
  above a few KiB (``RLIMIT_FSIZE``: EFBIG in every library, no root needed) and, where a
  small tmpfs can be mounted (root or user namespaces), on a 4–16 KiB disk (ENOSPC): one
  line, exit 2, nothing written, nothing left on the disk;
* **signals** — long runs sent SIGTERM once they are writing (exit 143, nothing left but a
  resumable run's checkpoints) and SIGKILL followed by a retry that must succeed and leave
  no temporary file of the killed run;
* **injection** — ids and texts starting with ``= + - @`` through every writer; every case's
  new CSV/xlsx cells are checked (:func:`unescaped_cells`), and nothing printed may carry a
  raw escape sequence.
"""

from __future__ import annotations

import csv
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

SPECIAL_SUFFIXES = (".csv", ".xlsx", ".png", ".pt", ".dcm")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MEMORY_MB = {"reportmine": 3072, "benchmark": 3072, "ynet": 6000}  # torch reserves address space
TINY_TRAIN = ("--fold", "0", "--epochs", "1", "--width", "0.125", "--image-size", "32", "--batch-size", "8",
              "--device", "cpu", "--quiet")


@dataclass(frozen=True)
class Command:
    """One command as the generated classes see it."""

    name: str
    tool: str
    argv: tuple[str, ...]  # "{slot}" stands for an input or output, "{w}" for the world
    inputs: dict[str, str] = field(default_factory=dict)  # slot → world-relative file
    outputs: dict[str, str] = field(default_factory=dict)  # slot → world-relative path ("…/" = folder)
    written: tuple[str, ...] = ()  # what a successful run writes (world-relative), sidecars included
    force: tuple[str, ...] = ()  # the option that replaces an earlier folder output
    marker_command: str = ""  # the command its folder marker names
    needs_model: bool = False
    disk_kib: int = 4  # a tmpfs this small cannot hold its output (0: its output fits in one page)
    root_says: str = "root of the file system"  # what refusing --out / says


MODEL = "run/fold_0/best.pt"
COMMANDS = (
    Command("classify", "reportmine", ("classify", "{table}", "--quiet", "--out", "{out}"),
            {"table": "reports.csv"}, {"out": "out/x.csv"},
            ("out/x.csv", "out/x.evidence.csv", "out/x.run.json")),
    Command("classify-xlsx", "reportmine", ("classify", "{table}", "--quiet", "--out", "{out}"),
            {"table": "reports.xlsx"}, {"out": "out/x.xlsx"}, ("out/x.xlsx",)),
    Command("classify-dictionary", "reportmine",
            ("classify", "{w}/reports.csv", "--quiet", "--dictionary", "{dictionary}", "--out", "{out}"),
            {"dictionary": "dict/en.csv"}, {"out": "out/d.csv"},
            ("out/d.csv", "out/d.evidence.csv", "out/d.run.json")),
    Command("context", "reportmine",
            ("context", "{table}", "--text-col", "text", "--term-col", "term", "--out", "{out}", "--quiet"),
            {"table": "context.csv"}, {"out": "out/ctx.xlsx"}, ("out/ctx.xlsx",)),
    Command("review", "reportmine", ("review", "{table}", "--out", "{out}"),
            {"table": "cls/reports.classified.csv"}, {"out": "out/review.html"}, ("out/review.html",)),
    Command("dictionary-check", "reportmine", ("dictionary", "check", "{dictionary}"), {"dictionary": "dict/en.csv"}),
    Command("roc", "benchmark", ("roc", "{table}", "--label-col", "label", "--score-col", "score"),
            {"table": "roc/good.csv"}),
    Command("compare", "benchmark",
            ("compare", "--manifest", "{manifest}", "--threshold", "0.5", "--predictions", "{predictions}",
             "--out", "{page}"),
            {"manifest": "cohort/manifest.csv", "predictions": "preds/good.csv"}, {"page": "out/page/"},
            ("out/page",), force=("--force",), marker_command="benchmark compare", disk_kib=16),
    Command("compare-model", "benchmark",
            ("compare", "--manifest", "{w}/cohort/manifest.csv", "--model", "{model}", "--out", "{page}"),
            {"model": MODEL}, {"page": "out/page/"}, ("out/page",), force=("--force",),
            marker_command="benchmark compare", needs_model=True, disk_kib=16),
    # (the demo derives its runs folder from --out first: "/" is refused there, in other words)
    Command("demo", "benchmark", ("demo", "--out", "{out}", "--epochs", "1"), {}, {"out": "out/demo/"},
            force=(), marker_command="benchmark demo", root_says="/"),
    Command("predict", "ynet",
            ("predict", "--model", "{model}", "--manifest", "{manifest}", "--out", "{out}", "--masks-dir", "{masks}",
             "--device", "cpu"),
            {"model": MODEL, "manifest": "cohort/manifest.csv"}, {"out": "out/p.csv", "masks": "out/masks/"},
            ("out/p.csv", "out/masks"), force=("--force",), marker_command="ynet predict", needs_model=True),
    Command("predict-images", "ynet",
            ("predict", "--model", "{w}/" + MODEL, "--images", "{image}", "--out", "{out}", "--device", "cpu"),
            {"image": "tiny.png"}, {"out": "out/p.csv"}, needs_model=True),  # its CSV (a few hundred bytes)
            # fits any disk: its writer's full-disk path is predict's, above
    Command("train", "ynet", ("train", "--manifest", "{manifest}", "--out", "{run}", *TINY_TRAIN),
            {"manifest": "cohort/manifest.csv"}, {"run": "out/run/"}, ("out/run",),
            marker_command="ynet train", disk_kib=16),
)


def _fill(command: Command, w: str, **given: str) -> tuple[str, ...]:
    values = {slot: f"{w}/{path.rstrip('/')}" for slot, path in {**command.inputs, **command.outputs}.items()}
    values.update(given)
    argv = []
    for part in command.argv:
        for slot, value in values.items():
            part = part.replace("{" + slot + "}", value)
        argv.append(part)
    return tuple(argv)


# ------------------------------------------------------------------ the world's extra files

def build(world: Path) -> None:
    """The extra inputs these classes use (called by hostile_cases.build_world)."""
    (world / "home").mkdir()
    (world / "home" / "thesis.docx").write_text("years of work")
    (world / "full").mkdir()  # the mount point of the small disk
    make_specials(world)
    big = world / "big"
    big.mkdir()
    with open(big / "reports.csv", "w", newline="", encoding="utf-8") as handle:  # long enough to signal
        writer = csv.writer(handle)
        writer.writerow(["id", "report_text"])
        for i in range(5_000):  # seconds of work: the signal arrives while it writes
            writer.writerow([f"b{i}", "Right level III node with microcalcification; suspicious for metastasis. "
                                      "No necrosis. 双侧颈部未见明显肿大淋巴结。"])
    import pandas as pd

    frame = pd.read_csv(world / "cohort" / "manifest.csv", dtype=str, keep_default_na=False)
    formulas = ["=HYPERLINK(\"http://x\",\"click\")", "=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3"]
    for i, text in enumerate(formulas * 2):
        frame.loc[frame.index[i], "ln_id"] = f"{text}_{i}"
        frame.loc[frame.index[i], "patient_id"] = f"{text}_{i}" if "patient_id" in frame.columns else ""
    frame.to_csv(world / "cohort" / "formula_ids.csv", index=False)
    fifo = pd.read_csv(world / "cohort" / "manifest.csv", dtype=str, keep_default_na=False)
    fifo.loc[fifo.index[fifo["split"] != "test"][0], "image"] = "images/fifo_image.png"
    fifo.to_csv(world / "cohort" / "fifo_image.csv", index=False)
    preds = pd.read_csv(world / "preds" / "good.csv", dtype={"ln_id": str})
    ids = dict(zip(pd.read_csv(world / "cohort" / "manifest.csv", dtype=str)["ln_id"], frame["ln_id"]))
    preds["ln_id"] = preds["ln_id"].map(ids)
    preds.to_csv(world / "preds" / "formula_ids.csv", index=False)
    with open(world / "context_formulas.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "term"])
        for text in formulas:
            writer.writerow([f"{text} no metastasis", "metastasis"])
            writer.writerow(["necrosis present", text])
    dictionary = (world / "dict" / "en.csv").read_text(encoding="utf-8")
    (world / "dict_escape").mkdir()
    (world / "dict_escape" / "d.csv").write_text(
        dictionary.rstrip("\n") + "\n\x1b[2Jnode\x1b]8;;http://x\x07,benign_finding,en,exact,,no,\n",
        encoding="utf-8")
    latin = "id,report_text\nr1,Lymphknoten vergrößert; Verdacht auf Metastase; Größe 12 mm\n"
    (world / "t" / "latin1.csv").write_bytes(latin.encode("cp1252"))
    (world / "t" / "wide.csv").write_text(",".join(f"c{i}" for i in range(200_000)) + "\n"
                                          + ",".join("x" for _ in range(200_000)) + "\n")
    _decoder_bombs(world / "t")


def _decoder_bombs(folder: Path) -> None:
    import struct
    import zipfile
    import zlib

    from openpyxl import Workbook

    plain = folder / "plain_bomb_base.xlsx"
    wb = Workbook()
    wb.active.append(["id", "report_text"])
    wb.active.append(["r1", "normal lymph node"])
    wb.save(plain)

    def rewrite(name, transform, member="xl/worksheets/sheet1.xml"):
        with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                zout.writestr(info, transform(data) if info.filename == member else data)
    laughs = (b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a0 "lol">'
              + b"".join(b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10)) + b"]>")
    rewrite("laughs.xlsx", lambda b: laughs + b.replace(b"normal lymph node", b"&a9;"))
    rewrite("external_entity.xlsx", lambda b: b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e SYSTEM '
            b'"file:///etc/passwd">]>' + b.replace(b"normal lymph node", b"&e;"))
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(folder / "huge_shared_strings.xlsx", "w",
                                                      zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        with zout.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>')
            for _ in range(300):  # 300 MiB of one cell, under a megabyte on disk
                part.write(b"A" * (1 << 20))
            part.write(b"</t></si></sst>")
    plain.unlink()
    # a PNG declaring 12,000 × 12,000 pixels (144 megapixels: under Pillow's own bomb error)
    width = height = 12_000
    raw = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)), 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    (folder / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height,
                                                                                     8, 0, 0, 0, 0))
                                      + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    _rle_bomb(folder / "rle_bomb.dcm")


def _rle_bomb(path: Path) -> None:
    """A 64 × 64 DICOM whose one RLE frame decodes to 256 MiB (4 MiB on disk; the unit test
    in test_nothing_lost.py measures a 1 GiB one)."""
    import struct

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = RLELossless
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 8, 8, 7
    ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
    frame = struct.pack("<16I", 1, 64, *([0] * 14)) + b"\x81\x07" * ((1 << 28) // 128)
    ds.PixelData = encapsulate([frame])
    ds.save_as(path, enforce_file_format=True)


def make_specials(root: Path) -> None:
    """``special/`` under ``root``: a named pipe, a socket and a folder with each suffix."""
    folder = root / "special"
    folder.mkdir(exist_ok=True)
    for suffix in SPECIAL_SUFFIXES:
        os.mkfifo(folder / f"fifo{suffix}")
        (folder / f"dir{suffix}").mkdir(exist_ok=True)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(folder / f"sock{suffix}"))
        server.close()  # the socket file stays; nothing listens
    images = root / "cohort" / "images"
    if images.is_dir():
        os.mkfifo(images / "fifo_image.png")


def _special_path(kind: str, suffix: str, w: str) -> str:
    if kind == "zero":
        return "/dev/zero"
    return f"{w}/special/{kind}{suffix if suffix in SPECIAL_SUFFIXES else '.csv'}"


# ------------------------------------------------------------------ generated prepare steps

def prepare(world: Path, spec: str) -> None:
    """``link:REL=TARGET`` (a symbolic link), ``forged:REL=KIND`` (a folder with a user's file
    and a forged marker), ``earlier:REL=COMMAND`` (a real earlier output), ``fifo:REL`` (a file
    replaced by a named pipe)."""
    kind, _, rest = spec.partition(":")
    rel, _, arg = rest.partition("=")
    path = world / rel
    if kind == "link":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(world / arg if arg else world / "nowhere" / "missing.csv")
    elif kind == "forged":
        path.mkdir(parents=True, exist_ok=True)
        (path / "thesis.docx").write_text("years of work")
        files = {"list": ["thesis.docx"],
                 "hash": {"thesis.docx": {"size": 13, "sha256": "0" * 64}},
                 "size": {"thesis.docx": {"size": 1, "sha256": "0" * 64}}}[arg.split(",")[0]]
        command = arg.split(",")[1]
        (path / ".reportmine-output.json").write_text(json.dumps({"command": command, "files": files}))
    elif kind == "edited":  # a real earlier output whose file the user has since edited
        from reportmine.core.outputs import FolderOutput

        command = arg
        with FolderOutput(path, command) as stage:
            (stage / "index.html").write_text("<p>earlier</p>")
        (path / "index.html").write_text("<p>the user's edits</p>")
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        raise ValueError(f"unknown prepare step {spec!r}")


# ------------------------------------------------------------------ injection

def unescaped_cells(world: Path, paths) -> list[str]:
    """Cells of the new CSV / xlsx files under ``paths`` that a spreadsheet would run as a
    formula (text starting with = + - @ tab CR that is not a plain number)."""
    found = []
    for rel in paths:
        base = world / rel
        files = [base] if base.is_file() else (sorted(base.rglob("*")) if base.is_dir() else [])
        for path in files:
            if path.is_symlink() or not path.is_file():
                continue
            for cell in _cells(path):
                if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES) and not _number(cell):
                    found.append(f"{path.relative_to(world)}: {cell[:40]!r}")
    return found


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _cells(path: Path):
    if path.suffix == ".csv":
        limit = csv.field_size_limit(1 << 30)  # a report cell may be megabytes long
        try:
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
                for row in csv.reader(handle):
                    yield from row
        finally:
            csv.field_size_limit(limit)
    elif path.suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            for sheet in workbook.worksheets:
                for row in sheet.iter_rows(values_only=True):
                    yield from row
        finally:
            workbook.close()


# ------------------------------------------------------------------ the cases

def generated_cases(Case, w: str) -> list:
    """Every generated case (``Case`` is hostile_cases.Case)."""
    c: list = []

    def add(name, tool, argv, **kw):
        c.append(Case(name, tool, tuple(str(a) for a in argv), **kw))

    for command in COMMANDS:
        model = {"needs_model": command.needs_model}
        for slot, path in command.inputs.items():  # special files in every input slot
            suffix = Path(path).suffix
            # a pipe (the hang) and /dev/zero (the endless read) everywhere; sockets and folders
            # where a subprocess starts fast (the torch commands take seconds to start)
            for kind in ("fifo", "zero") if command.tool == "ynet" or command.needs_model else (
                    "fifo", "sock", "zero", "dir"):
                if kind == "dir" and slot == "dictionary":
                    continue  # a folder of dictionaries is a valid input
                special = _special_path(kind, suffix, w)
                add(f"special-{command.name}-{slot}-{kind}", command.tool, _fill(command, w, **{slot: special}),
                    kind="special file", says=special, timeout_s=120, memory_mb=MEMORY_MB[command.tool], **model)
        for slot, path in command.outputs.items():
            if path.endswith("/"):
                _folder_output_cases(add, command, slot, path, w, model)
            else:
                for target, what in (("mywork/thesis.txt", "user"), ("", "dangling")):
                    add(f"symlinked-output-{command.name}-{slot}-{what}", command.tool, _fill(command, w),
                        kind="symlinked output", says="symbolic link", prepare=f"link:{path}={target}", **model)
        if command.written:  # full disks: the successful run, with writes refused by the kernel
            add(f"full-disk-fsize-{command.name}", command.tool, _fill(command, w), kind="full disk",
                disk="fsize:512", says="cannot be written", timeout_s=600, **model)
            if _tmpfs() and command.disk_kib:
                full = {slot: f"{w}/full/{Path(p.rstrip('/')).name}" for slot, p in command.outputs.items()}
                add(f"full-disk-tmpfs-{command.name}", command.tool, _fill(command, w, **full), kind="full disk",
                    disk=f"tmpfs:{command.disk_kib}", says="cannot be written", timeout_s=600, **model)
    _signal_cases(add, w)
    _decoder_cases(add, w)
    _injection_cases(add, w)
    _folder_policy_cases(add, w)
    return c


def _tmpfs() -> bool:
    import hostile_cases

    return hostile_cases.tmpfs_available()


def _folder_output_cases(add, command: Command, slot: str, path: str, w: str, model: dict) -> None:
    force = command.force
    rel = path.rstrip("/")
    for forged in ("list", "hash", "size"):
        add(f"forged-marker-{command.name}-{slot}-{forged}", command.tool, (*_fill(command, w), *force),
            kind="forged marker", says="holds other files",
            prepare=f"forged:{rel}={forged},{command.marker_command}", **model)
    add(f"edited-earlier-output-{command.name}-{slot}", command.tool, (*_fill(command, w), *force),
        kind="forged marker", says="holds other files", prepare=f"edited:{rel}={command.marker_command}", **model)
    add(f"home-folder-{command.name}-{slot}", command.tool, (*_fill(command, w, **{slot: f"{w}/home"}), *force),
        kind="user folder", says="home folder", home=True, **model)
    add(f"root-folder-{command.name}-{slot}", command.tool, (*_fill(command, w, **{slot: "/"}), *force),
        kind="user folder", says=command.root_says, **model)
    add(f"symlinked-folder-{command.name}-{slot}", command.tool, (*_fill(command, w), *force),
        kind="symlinked output", says="not a folder", prepare=f"link:{rel}=mywork", **model)


def _signal_cases(add, w: str) -> None:
    big = f"{w}/big/reports.csv"
    for fmt in ("csv", "xlsx"):
        outputs = (f"out/big.{fmt}",) + ((f"out/big.evidence.{fmt}", "out/big.run.json") if fmt == "csv" else ())
        add(f"signal-term-classify-{fmt}", "reportmine", ("classify", big, "--quiet", "--out", f"{w}/out/big.{fmt}"),
            expect=143, kind="signal", signal="term", timeout_s=300, outputs=outputs)
        add(f"signal-kill-retry-classify-{fmt}", "reportmine",
            ("classify", big, "--quiet", "--out", f"{w}/out/big.{fmt}"),
            expect=-9, kind="signal", signal="kill", retry=(), timeout_s=600, outputs=outputs)
    add("signal-term-context", "reportmine", ("context", big, "--text-col", "report_text", "--term-col", "id", "--out",
                                             f"{w}/out/ctx.xlsx", "--quiet"),
        expect=143, kind="signal", signal="term", timeout_s=300, outputs=("out/ctx.xlsx",))
    add("signal-kill-retry-compare", "benchmark",
        ("compare", "--manifest", f"{w}/cohort/manifest.csv", "--threshold", "0.5", "--predictions",
         f"{w}/preds/good.csv", "--out", f"{w}/out/page"),
        expect=-9, kind="signal", signal="kill", retry=(), timeout_s=600, outputs=("out/page",))
    add("signal-term-compare", "benchmark",
        ("compare", "--manifest", f"{w}/cohort/manifest.csv", "--threshold", "0.5", "--predictions",
         f"{w}/preds/good.csv", "--out", f"{w}/out/page"),
        expect=143, kind="signal", signal="term", timeout_s=300, outputs=("out/page",))
    train = ("train", "--manifest", f"{w}/cohort/manifest.csv", "--out", f"{w}/out/run", "--fold", "0", "--epochs",
             "6", "--width", "0.125", "--image-size", "32", "--batch-size", "8", "--device", "cpu", "--quiet")
    add("signal-term-train", "ynet", train, expect=143, kind="signal", signal="term", timeout_s=600,
        signal_when="out/run/fold_0/last.pt", outputs=("out/run",), leaves=("out/run",), retry=("--resume",))
    add("signal-kill-retry-train", "ynet", train, expect=-9, kind="signal", signal="kill", timeout_s=600,
        outputs=("out/run",), retry=("--resume",))
    add("signal-kill-retry-train-before-run-record", "ynet", train, expect=-9, kind="signal", signal="kill",
        signal_when="out/run/.reportmine-output.json", timeout_s=600, outputs=("out/run",), retry=())
    add("signal-kill-retry-predict", "ynet",
        ("predict", "--model", f"{w}/{MODEL}", "--manifest", f"{w}/cohort/manifest.csv", "--out", f"{w}/out/p.csv",
         "--masks-dir", f"{w}/out/masks", "--device", "cpu"),
        expect=-9, kind="signal", signal="kill", retry=(), timeout_s=600, outputs=("out/p.csv", "out/masks"),
        needs_model=True)


def _decoder_cases(add, w: str) -> None:
    for name, says in (("laughs.xlsx", "DTD"), ("external_entity.xlsx", "DTD"),
                       ("huge_shared_strings.xlsx", "sharedStrings.xml"), ("wide.csv", "columns"),
                       ("latin1.csv", "--encoding")):
        add(f"decoder-classify-{name}", "reportmine", ("classify", f"{w}/t/{name}", "--quiet", "--out",
                                                       f"{w}/out/x.csv"),
            kind="decoder bomb" if "latin" not in name else "encoding", says=says, memory_mb=3072, timeout_s=300)
    add("decoder-context-laughs", "reportmine", ("context", f"{w}/t/laughs.xlsx", "--text-col", "report_text",
                                                 "--term-col", "id", "--out", f"{w}/out/c.xlsx", "--quiet"),
        kind="decoder bomb", says="DTD", memory_mb=3072, timeout_s=300)
    add("decoder-roc-wide", "benchmark", ("roc", f"{w}/t/wide.csv", "--label-col", "c0", "--score-col", "c1"),
        kind="decoder bomb", says="columns", memory_mb=3072, timeout_s=300)
    for name, says in (("bomb.png", "refused before decoding"), ("rle_bomb.dcm", "decompression bomb")):
        add(f"decoder-predict-{name}", "ynet", ("predict", "--model", f"{w}/{MODEL}", "--images", f"{w}/t/{name}",
                                                "--out", f"{w}/out/p.csv", "--device", "cpu"),
            kind="decoder bomb", says=says, memory_mb=6000, timeout_s=300, needs_model=True)
    add("special-review-run-record-fifo", "reportmine", ("review", f"{w}/cls/reports.classified.csv", "--out",
                                                        f"{w}/out/review.html"),
        kind="special file", says="reports.classified.run.json", timeout_s=120,
        prepare="fifo:cls/reports.classified.run.json")
    manifest = f"{w}/cohort/fifo_image.csv"
    add("special-train-image-fifo", "ynet", ("train", "--manifest", manifest, "--out", f"{w}/out/run", *TINY_TRAIN),
        kind="special file", says="fifo_image.png", timeout_s=300)


def _injection_cases(add, w: str) -> None:
    add("injection-train-formula-ids", "ynet", ("train", "--manifest", f"{w}/cohort/formula_ids.csv", "--out",
                                                f"{w}/out/run", *TINY_TRAIN),
        expect=0, kind="injection", outputs=("out/run",))
    add("injection-predict-formula-ids", "ynet",
        ("predict", "--model", f"{w}/{MODEL}", "--manifest", f"{w}/cohort/formula_ids.csv", "--out",
         f"{w}/out/p.csv", "--masks-dir", f"{w}/out/masks", "--device", "cpu"),
        expect=0, kind="injection", outputs=("out/p.csv", "out/masks"), needs_model=True)
    add("injection-compare-formula-ids", "benchmark",
        ("compare", "--manifest", f"{w}/cohort/formula_ids.csv", "--threshold", "0.5", "--predictions",
         f"{w}/preds/formula_ids.csv", "--out", f"{w}/out/page"),
        expect=0, kind="injection", outputs=("out/page",))
    add("injection-context-formulas", "reportmine",
        ("context", f"{w}/context_formulas.csv", "--text-col", "text", "--term-col", "term", "--out",
         f"{w}/out/ctx.csv", "--quiet"),
        expect=0, kind="injection", outputs=("out/ctx.csv", "out/ctx.run.json"))
    add("terminal-explain-escapes", "reportmine", ("explain", "Level III node\x1b[2J\x1b]8;;http://x\x07: metastasis "
                                                   "\u202eevil"),
        expect=0, kind="terminal escape")
    add("terminal-dictionary-show-escapes", "reportmine", ("dictionary", "show", f"{w}/dict_escape"),
        expect=0, kind="terminal escape")
    add("terminal-error-line-escapes", "reportmine", ("classify", f"{w}/missing\x1b[31m.csv", "--quiet"),
        kind="terminal escape", says="not found")


def _folder_policy_cases(add, w: str) -> None:
    add("train-over-user-results", "ynet", ("train", "--manifest", f"{w}/cohort/manifest.csv", "--out",
                                            f"{w}/mywork", *TINY_TRAIN),
        kind="user folder", says="holds other files")
    add("train-out-cohort-folder", "ynet", ("train", "--manifest", f"{w}/cohort/manifest.csv", "--out",
                                            f"{w}/cohort", *TINY_TRAIN),
        kind="user folder", says="holds the input")
    add("train-resume-over-user-results", "ynet", ("train", "--manifest", f"{w}/cohort/manifest.csv", "--out",
                                                   f"{w}/mywork", "--resume", *TINY_TRAIN),
        kind="user folder", says="holds other files")

