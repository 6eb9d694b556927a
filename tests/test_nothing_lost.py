"""Issue 25 ("nothing lost, round two"): the core mechanisms every command inherits.

Folder markers with sizes and hashes (a forged or stale marker never lets ``--force`` delete a
user's file), claimed folders, outputs never through a symbolic link, the home folder and ``/``
refused, leftovers of killed runs cleaned, write errors (a full disk, injected here as an
``OSError``) one line with nothing half-written, input files checked before opening, bounded
decoders (workbook entity bombs, huge shared strings, wide CSVs, image and DICOM bombs),
encodings refused instead of guessed, terminal escapes, and the statistics' edge cases.
The same classes run through every command in ``tests/hostile_cases.py``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reportmine.core.errors import InputError, run_command
from reportmine.core.inputs import check_input_file, open_input, read_json_file
from reportmine.core.outputs import (
    MARKER,
    AtomicTableWriter,
    FolderOutput,
    atomic_path,
    check_output_folder,
    claim_folder,
    clean_leftovers,
    earlier_output_of,
    escape_cell,
    read_own_csv,
    write_csv,
    write_text_atomic,
)
from reportmine.core.terminal import escape_controls

REPO = Path(__file__).resolve().parent.parent


def _page(out: Path, command="benchmark compare") -> None:
    with FolderOutput(out, command) as stage:
        (stage / "index.html").write_text("page")
        (stage / "figures").mkdir()
        (stage / "figures" / "roc.png").write_bytes(b"png")


# ------------------------------------------------------------------ markers

def test_the_marker_lists_each_file_with_its_size_and_hash(tmp_path):
    out = tmp_path / "page"
    _page(out)
    record = json.loads((out / MARKER).read_text())
    assert record["files"]["index.html"] == {"size": 4, "sha256": hashlib.sha256(b"page").hexdigest()}
    assert earlier_output_of(out) == "benchmark compare"


def test_a_file_changed_since_we_wrote_it_is_the_users_and_force_refuses(tmp_path):
    out = tmp_path / "page"
    _page(out)
    (out / "index.html").write_text("the user edited this page")  # same name, new content
    with pytest.raises(InputError, match="holds other files"):
        FolderOutput(out, "benchmark compare", force=True)
    assert (out / "index.html").read_text() == "the user edited this page"


@pytest.mark.parametrize("forged", [
    {"command": "benchmark compare", "files": ["thesis.docx"]},  # an old-style list: cannot be verified
    {"command": "benchmark compare", "files": {"thesis.docx": {"size": 5, "sha256": "0" * 64}}},
    {"command": "benchmark compare", "files": {"thesis.docx": {"size": 99, "sha256": "0" * 64}}},
    {"command": "benchmark compare", "files": "thesis.docx"},
    ["not", "a", "marker"],
])
def test_a_forged_marker_never_lets_force_delete_a_users_file(tmp_path, forged):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("years")
    (out / MARKER).write_text(json.dumps(forged))
    with pytest.raises(InputError, match="holds other files"):
        with FolderOutput(out, "benchmark compare", force=True) as stage:
            (stage / "index.html").write_text("new")
    assert (out / "thesis.docx").read_text() == "years"


def test_force_replaces_an_earlier_output_that_still_matches(tmp_path):
    out = tmp_path / "page"
    _page(out)
    with FolderOutput(out, "benchmark compare", force=True) as stage:
        (stage / "index.html").write_text("second")
    assert (out / "index.html").read_text() == "second" and not (out / "figures").exists()


def test_home_and_root_are_never_output_folders(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(InputError, match="home folder"):
        check_output_folder(home, "ynet train")
    with pytest.raises(InputError, match="home folder"):
        check_output_folder(tmp_path / "home" / ".." / "home", "ynet train")
    with pytest.raises(InputError, match="root of the file system"):
        check_output_folder("/", "ynet train", existing_ok=True)
    assert check_output_folder(home / "run", "ynet train") == "new"


def test_a_folder_holding_an_input_is_refused_even_when_resuming(tmp_path):
    (tmp_path / "images").mkdir()
    image = tmp_path / "images" / "a.png"
    image.write_bytes(b"png")
    for folder in (tmp_path, tmp_path / "images"):
        with pytest.raises(InputError, match="holds the input"):
            check_output_folder(folder, "ynet train", inputs=[image], existing_ok=True)


def test_a_claimed_folder_records_every_atomic_write_so_a_crash_leaves_it_recognisable(tmp_path):
    run = tmp_path / "run"
    claim_folder(run, "ynet train")
    write_text_atomic(run / "run.json", "{}")
    (run / "fold_0").mkdir()
    write_text_atomic(run / "fold_0" / "history.csv", "epoch\n1\n")
    record = json.loads((run / MARKER).read_text())
    assert set(record["files"]) == {"run.json", "fold_0/history.csv"} and record["claimed"]
    assert earlier_output_of(run) == "ynet train"  # (a SIGKILL here: the retry recognises it)
    (run / "fold_0" / "history.csv").write_text("the user's own history\n")
    assert earlier_output_of(run) is None  # changed since: the user's
    with pytest.raises(InputError, match="holds other files"):
        check_output_folder(run, "ynet train", force=True)


def test_a_folder_of_user_files_is_refused_for_a_progressive_output(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    for name in ("history.csv", "learning_curves.png", "oof_predictions.csv"):
        (out / name).write_text("mine")
    with pytest.raises(InputError, match="holds other files"):
        check_output_folder(out, "ynet train", force=True)


# ------------------------------------------------------------------ links, leftovers

def test_a_single_file_output_is_never_written_through_a_symbolic_link(tmp_path):
    mine = tmp_path / "thesis.txt"
    mine.write_text("years")
    link = tmp_path / "out.csv"
    link.symlink_to(mine)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    for target in (link, dangling):
        with pytest.raises(InputError, match="symbolic link"):
            write_text_atomic(target, "x")
        with pytest.raises(InputError, match="symbolic link"):
            AtomicTableWriter(target, {"results": ["id"]})
    assert mine.read_text() == "years" and not (tmp_path / "nowhere.csv").exists()


def test_a_link_swapped_in_while_writing_is_not_replaced(tmp_path):
    mine = tmp_path / "thesis.txt"
    mine.write_text("years")
    target = tmp_path / "out.txt"
    with pytest.raises(InputError, match="symbolic link"):
        with atomic_path(target) as tmp:
            tmp.write_text("x")
            target.symlink_to(mine)
    assert mine.read_text() == "years" and [p.name for p in tmp_path.iterdir()] != []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_leftovers_of_a_killed_run_are_recognised_and_cleaned_by_the_next_write(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".tmp-{dead}-abc.csv").write_text("half a table")
    (tmp_path / f".tmp-{dead}-stage-x").mkdir()
    (tmp_path / f".tmp-{dead}-stage-x" / "index.html").write_text("half a page")
    alive = tmp_path / f".tmp-{os.getpid()}-mine.csv"  # ours, still running: kept
    alive.write_text("in use")
    user = tmp_path / ".tmp-notes.txt"  # not one of our names: kept
    user.write_text("mine")
    write_text_atomic(tmp_path / "out.txt", "done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, user.name, "out.txt"])
    assert clean_leftovers(tmp_path) == []


def test_a_page_folder_with_a_killed_runs_stage_is_still_our_earlier_output(tmp_path):
    out = tmp_path / "page"
    _page(out)
    stage = out / f".tmp-{_dead_pid()}-stage-q"
    stage.mkdir()
    (stage / "index.html").write_text("half")
    assert earlier_output_of(out) == "benchmark compare"
    with FolderOutput(out, "benchmark compare", force=True) as new:
        (new / "index.html").write_text("retry")
    assert sorted(p.name for p in out.iterdir()) == sorted(["index.html", MARKER])


# ------------------------------------------------------------------ full disks (injected)

def _full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_a_file_is_one_line_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(InputError, match=r"out.csv: cannot be written \(No space left on device\)"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            _full_disk()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_a_table_writer_names_the_output(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    with pytest.raises(InputError, match="out.csv: cannot be written"):
        with AtomicTableWriter(target, {"results": ["id"]}) as writer:
            writer.write("results", [{"id": "a"}])
            _full_disk()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_committing_a_folder_output_leaves_nothing(tmp_path, monkeypatch):
    import reportmine.core.outputs as outputs

    monkeypatch.setattr(outputs, "file_record", _full_disk)
    with pytest.raises((InputError, OSError)):
        with FolderOutput(tmp_path / "page", "benchmark compare") as stage:
            (stage / "index.html").write_text("page")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_through_the_command_path_is_one_line_exit_2(tmp_path, capsys):
    def handler():
        with atomic_path(tmp_path / "out.csv"):
            _full_disk()
    assert run_command("tool", handler) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out.csv: cannot be written (No space left on device)" in err


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ are Linux's")
def test_a_real_write_error_from_the_kernel_is_one_line(tmp_path):
    """Beyond injection: the kernel refuses the write (RLIMIT_FSIZE, EFBIG), in any library."""
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "from reportmine.core.errors import run_command\n"
        "from reportmine.core.outputs import write_text_atomic\n"
        f"sys.exit(run_command('tool', lambda: write_text_atomic({str(tmp_path / 'big.txt')!r}, 'x' * 5000)))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "big.txt: cannot be written" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ inputs

@pytest.mark.parametrize("kind", ["fifo", "socket", "device", "folder", "missing", "loop"])
def test_an_input_that_is_not_a_regular_file_is_one_line_before_it_is_opened(tmp_path, kind):
    path = tmp_path / "input.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path)
    words = {"fifo": "named pipe", "socket": "socket", "device": "device", "folder": "folder",
             "missing": "not found", "loop": "not found"}[kind]
    with pytest.raises(InputError, match=words) as info:
        open_input(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_reader_refuses_a_file_above_its_bound_before_reading(tmp_path):
    big = tmp_path / "run.json"
    big.write_text(json.dumps({"x": "y" * 2000}))
    with pytest.raises(InputError, match="more than"):
        read_json_file(big, max_bytes=1000)
    assert read_json_file(big)["x"] == "y" * 2000
    check_input_file(big, max_bytes=big.stat().st_size)


def _workbook(tmp_path: Path, name: str, transform=None, member="xl/worksheets/sheet1.xml") -> Path:
    from openpyxl import Workbook

    plain = tmp_path / "plain.xlsx"
    wb = Workbook()
    wb.active.append(["id", "report_text"])
    wb.active.append(["r1", "normal lymph node"])
    wb.save(plain)
    out = tmp_path / name
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, transform(data) if transform and info.filename == member else data)
    return out


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a0 "lol">'
          + b"".join(b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10)) + b"]>")


@pytest.mark.parametrize("name, transform, says", [
    ("laughs.xlsx", lambda b: LAUGHS + b.replace(b"normal lymph node", b"&a9;"), "DTD"),
    ("external.xlsx", lambda b: b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e SYSTEM '
     b'"file:///etc/passwd">]>' + b.replace(b"normal lymph node", b"&e;"), "DTD"),
    ("late_dtd.xlsx", lambda b: b'<?xml version="1.0"?><!--' + b"x" * 100_000 + b'--><!DOCTYPE worksheet '
     b'[<!ENTITY e SYSTEM "file:///etc/passwd">]>' + b.replace(b"normal lymph node", b"&e;"), "workbook"),
])
def test_workbook_entity_bombs_are_one_line(tmp_path, name, transform, says):
    from reportmine.core.tables import read_table

    path = _workbook(tmp_path, name, transform)
    with pytest.raises(InputError, match=says) as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_a_workbook_part_declaring_huge_shared_strings_is_refused_before_parsing(tmp_path):
    from reportmine.core.tables import MAX_SHARED_STRINGS_BYTES, check_workbook

    path = tmp_path / "huge.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            block = b"A" * (1 << 20)
            for _ in range(MAX_SHARED_STRINGS_BYTES // len(block) + 1):
                part.write(block)
    assert path.stat().st_size < 2 << 20  # a near-bomb: under a megabyte or two on disk
    with pytest.raises(InputError, match="sharedStrings.xml unpacks to"):
        check_workbook(path)


def test_a_csv_with_a_million_columns_is_refused_from_its_header(tmp_path):
    from reportmine.core.tables import read_table

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + ",".join("x" * 1_000_000) + "\n")
    with pytest.raises(InputError, match="1,000,000 columns"):
        read_table(path)


@pytest.mark.parametrize("text, encoding", [
    ("id,report_text\nr1,Lymphknoten vergrößert; Größe 12 mm\n", "cp1252"),
    ("id,report_text\nr1,Ganglion réactif; nécrose absente\nr2,Lésion hypoéchogène\n", "latin-1"),
    ("id,report_text\nr1,ÉTAT GÉNÉRAL À L'ÉCOLE\n", "latin-1"),
])
def test_a_latin1_csv_is_refused_with_the_encoding_hint_not_read_as_mojibake(tmp_path, text, encoding):
    from reportmine.core.tables import read_table

    path = tmp_path / "latin.csv"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(InputError, match="--encoding"):
        read_table(path)
    assert read_table(path, encoding=encoding)["report_text"].iloc[0] == text.splitlines()[1].split(",", 1)[1]


def test_chinese_gb18030_is_still_detected(tmp_path):
    from reportmine.core.tables import read_table

    path = tmp_path / "gbk.csv"
    text = "id,report_text\nr1,右侧颈部III区淋巴结内见微钙化；淋巴门消失。患者朱镕基喆\n"
    path.write_bytes(text.encode("gb18030"))
    assert read_table(path)["report_text"].iloc[0].startswith("右侧颈部III区")


def test_an_image_bomb_is_refused_from_its_header(tmp_path):
    import zlib

    from ynet.images import MAX_VALUES, DataError, read_image

    width = height = 12_000  # 144 megapixels of zeros: a PNG of a few hundred KiB
    raw = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)), 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    assert width * height > MAX_VALUES
    with pytest.raises(DataError, match="refused before decoding"):
        read_image(path)


def _dicom(path: Path, rows: int, columns: int, frame_bytes: bytes | None, compressed: bool) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = RLELossless if compressed else ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = rows, columns, 1, 8, 8, 7
    ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
    ds.PixelData = encapsulate([frame_bytes]) if compressed else frame_bytes
    ds.save_as(path, enforce_file_format=True)
    return path


def _rle_frame(decoded_bytes: int) -> bytes:
    """One RLE segment of runs of 128 equal bytes (2 bytes each: a 64× expansion)."""
    return struct.pack("<16I", 1, 64, *([0] * 14)) + b"\x81\x07" * (decoded_bytes // 128)


def test_a_dicom_rle_bomb_is_refused_before_decompression(tmp_path):
    import resource

    from ynet.images import DataError, read_image

    good = _dicom(tmp_path / "ok.dcm", 64, 64, _rle_frame(64 * 64), compressed=True)
    assert read_image(good)[0].shape == (64, 64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bomb = _dicom(tmp_path / "bomb.dcm", 64, 64, _rle_frame(1 << 30), compressed=True)  # 16 MiB → 1 GiB
    with pytest.raises(DataError, match="decompression bomb"):
        read_image(bomb)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200, grown_mib
    huge = _dicom(tmp_path / "huge.dcm", 65535, 65535, b"\x00" * 16, compressed=False)
    with pytest.raises(DataError, match="refused before decoding"):
        read_image(huge)


# ------------------------------------------------------------------ escaping

def test_every_table_writer_escapes_formulas_with_the_one_function(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"id": ["=HYPERLINK(\"http://x\")", "=1+1", "@SUM(A1)", "-2+3", "+cmd", "ok", "-0.5"],
                          "fold": [0, 1, 2, 3, 4, 0, 1]})
    write_csv(tmp_path / "splits.csv", frame)
    text = (tmp_path / "splits.csv").read_text(encoding="utf-8-sig")
    assert "\n=" not in text and "'=1+1" in text and "'@SUM" in text and "'-2+3" in text
    back = read_own_csv(tmp_path / "splits.csv", dtype={"id": str})
    assert back["id"].tolist() == frame["id"].tolist() and back["fold"].tolist() == frame["fold"].tolist()
    assert escape_cell(-2) == -2 and escape_cell("-0.5") == "'-0.5"


def test_ynet_splits_csv_escapes_ids_and_reads_them_back(tmp_path):
    from ynet.splits import load_or_assign

    class Node:
        def __init__(self, i):
            self.id = ["=1+1", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3"][i % 4] + f"_{i}"
            self.group, self.label, self.split = f"p{i}", i % 2, ""

    class Manifest:
        path = tmp_path / "manifest.csv"
        sha256 = "f" * 64
        nodes = [Node(i) for i in range(40)]

    table = load_or_assign(Manifest, tmp_path, folds=2, test_fraction=0.2, seed=0)
    raw = (tmp_path / "splits.csv").read_text(encoding="utf-8-sig").splitlines()
    assert not [line for line in raw[1:] if line.startswith(("=", "+", "-", "@"))]
    again = load_or_assign(Manifest, tmp_path, folds=2, test_fraction=0.2, seed=0)
    assert again["id"].tolist() == table["id"].tolist() == [n.id for n in Manifest.nodes]


def test_terminal_output_shows_control_characters_instead_of_obeying_them(capsys):
    text = "metastasis\x1b[2J\x1b]8;;http://x\x07click\x1b]8;;\x07 \u202eevil\u202c\x9b31m"
    shown = escape_controls(text)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown and "\x9b" not in shown
    assert "\\x1b[2J" in shown and "\\u202e" in shown
    assert escape_controls("a\tb\nc 淋巴结") == "a\tb\nc 淋巴结"

    def handler():
        print(text)
        raise InputError(f"{text}.csv: not found")
    assert run_command("tool", handler) == 2
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\\x1b[2J" in out and "\\x1b[2J" in err


def test_reportmine_explain_escapes_the_text_it_echoes(capsys):
    from reportmine.cli import main

    assert main(["explain", "Level III node\x1b[2J\x1b[31m: metastasis"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out


# ------------------------------------------------------------------ statistics edge cases

def test_mcnemar_exact_p_matches_scipy_binomtest_up_to_huge_counts():
    from scipy.stats import binomtest

    from reportmine.stats.paired import MAX_COUNT, mcnemar

    for b, c in ((10, 3), (0, 5), (12, 12), (7, 100), (1_000_000_000, 999_990_000), (3_000_000_000, 2_999_900_000)):
        expected = binomtest(min(b, c), b + c).pvalue
        assert mcnemar(b, c).exact.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300), (b, c)
    assert mcnemar(MAX_COUNT, 3).exact.p_value == 0.0  # was 1.0 (scipy's bdtr overflowed)
    with pytest.raises(ValueError, match="documented limit"):
        mcnemar(MAX_COUNT + 1, 3)


def test_benchmark_refuses_a_prevalence_beyond_the_documented_range_in_one_line(capsys):
    from reportmine.bench_cli import main

    for value in ("1e-320", "5e-324", "1e-310%", "0.00000001"):
        assert main(["metrics", "--tp", "5", "--fp", "2", "--fn", "1", "--tn", "9", "--prevalence", value]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--prevalence" in err and "internal error" not in err
    assert main(["metrics", "--tp", "5", "--fp", "2", "--fn", "1", "--tn", "9", "--prevalence", "0.0001%"]) == 0
    assert main(["mcnemar", "--b", str(10**22), "--c", "3"]) == 2
    assert "--b" in capsys.readouterr().err
