"""The one output policy (reportmine.core.outputs) and the one error path (core.errors).

Issue 10's findings each name the test here that covers them: (1) foreign folders,
(3) data-derived names, (4) every written file against every input, (9) leftovers,
(10) `--out .`, (11) permissions from the umask.
"""

import json
import os
import signal
import stat
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportmine.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    ArgumentParser,
    InputError,
    run_command,
)
from reportmine.core.outputs import (
    MARKER,
    AtomicTableWriter,
    FolderOutput,
    atomic_path,
    check_targets,
    earlier_output_of,
    json_safe,
    safe_filename,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    yield 0o002
    os.umask(old)


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# ------------------------------------------------------------------ atomic files

def test_atomic_file_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("failed half way")
    assert target.read_text() == "first"
    assert _tree(tmp_path) == {"out.txt"}  # finding 9: no .tmp-* left beside the output


def test_files_follow_the_umask_not_0600(tmp_path, umask_002):
    """Finding 11: outputs are readable by colleagues (mkstemp alone gives 0600)."""
    write_text_atomic(tmp_path / "a.txt", "x")
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    with AtomicTableWriter(tmp_path / "t.xlsx", {"s": ["a"]}) as w:
        w.write("s", [{"a": 1}])
    with FolderOutput(tmp_path / "folder", "test") as stage:
        (stage / "f.txt").write_text("x")
    for path in (tmp_path / "a.txt", tmp_path / "a.json", tmp_path / "t.xlsx", tmp_path / "folder" / "f.txt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o664, path
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o775


def test_atomic_path_refuses_a_folder_or_device(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="is a folder"), atomic_path(tmp_path / "d"):
        pass
    with pytest.raises(InputError, match="not a regular file"):
        check_targets([Path("/dev/null")])


def test_unwritable_folder_is_one_line(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_text_atomic(tmp_path / "missing" / "x.txt", "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        write_text_atomic(tmp_path / "file" / "x.txt", "x")
    with pytest.raises(InputError):
        write_text_atomic(Path("/proc/x.txt"), "x")  # even root cannot create files there


def test_json_is_strict_nan_becomes_null(tmp_path):
    """Finding 7: done.json held a bare NaN, which is not JSON."""
    path = tmp_path / "x.json"
    write_json_atomic(path, {"auc": float("nan"), "arr": np.array([1.0, np.inf]), "n": np.int64(3),
                             "p": Path("a/b"), "s": {2, 1}})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"auc": None, "arr": [1.0, None], "n": 3, "p": "a/b", "s": [1, 2]}
    assert json_safe(np.float32(np.nan)) is None


def test_csv_cells_formula_escaped_with_string_dtype(tmp_path):
    frame = pd.DataFrame({"text": ["=cmd|' /C calc'!A0", "@SUM(1)", "plain"], "n": [1, 2, 3]})
    write_csv_atomic(tmp_path / "x.csv", frame)
    back = pd.read_csv(tmp_path / "x.csv", encoding="utf-8-sig")
    assert list(back["text"]) == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "plain"]


# ------------------------------------------------------------------ targets and names

def test_an_output_may_not_be_an_input_by_any_spelling(tmp_path):
    """Finding 4: resolved paths and inodes, symlinks and hard links included."""
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    (tmp_path / "sub").mkdir()
    os.symlink(src, tmp_path / "link.csv")
    os.link(src, tmp_path / "hard.csv")
    for spelling in (src, tmp_path / "sub" / ".." / "in.csv", tmp_path / "link.csv", tmp_path / "hard.csv"):
        with pytest.raises(InputError, match="would overwrite the input"):
            check_targets([spelling], [src])
    check_targets([tmp_path / "other.csv"], [src])
    with pytest.raises(InputError, match="outside the output folder"):
        check_targets([tmp_path / "sub" / ".." / "x.png"], [], root=tmp_path / "sub")


@pytest.mark.parametrize("raw, expected", [
    ("../../x", "x"), ("/etc/passwd", "etc_passwd"), ("..", "item"), ("", "item"), (".hidden", "hidden"),
    ("a/b\\c", "a_b_c"), ("CON", "_CON"), ("nul.png", "_nul.png"), ("-rf", "rf"), ("結節 1", "結節_1"),
    ("x\x00y", "x_y"),
])
def test_safe_filename_never_escapes(raw, expected):
    """Finding 3: an ln_id like ../../x or an absolute path stays inside the folder."""
    name = safe_filename(raw)
    assert name == expected
    assert "/" not in name and "\\" not in name and not name.startswith(".")


def test_safe_filename_unique_and_bounded():
    used: set[str] = set()
    names = [safe_filename(x, used) for x in ("a/b", "a_b", "A_B", "a:b")]
    assert names == ["a_b", "a_b_2", "A_B_3", "a_b_4"]
    long = safe_filename("x" * 500, used, max_len=50)
    assert len(long) == 50 and len(safe_filename("x" * 500, used, max_len=50)) == 50


# ------------------------------------------------------------------ tables

@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_table_writer_failure_leaves_nothing_here_or_in_tmpdir(tmp_path, monkeypatch, suffix):
    """Finding 9: no .tmp-* beside the output and no openpyxl.* files in $TMPDIR."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(RuntimeError), AtomicTableWriter(out_dir / f"r{suffix}", {"a": ["x"], "b": ["y"]}) as w:
        w.write("a", [{"x": i} for i in range(1000)])
        w.write("b", [{"y": 1}])
        raise RuntimeError("stopped")
    assert _tree(out_dir) == set()
    assert _tree(tmpdir) == set()


def test_table_writer_checks_every_file_it_writes(tmp_path):
    """Finding 4: `classify victim.evidence.csv --out victim.csv` would write its evidence
    sidecar over the input; a companion run record is checked too."""
    victim = tmp_path / "victim.evidence.csv"
    victim.write_text("id,text\n1,x\n")
    with pytest.raises(InputError, match="would overwrite the input"):
        AtomicTableWriter(tmp_path / "victim.csv", {"results": ["a"], "evidence": ["b"]}, protect=[victim])
    run_json = tmp_path / "other.run.json"
    run_json.write_text("{}")
    with pytest.raises(InputError, match="would overwrite the input"):
        AtomicTableWriter(tmp_path / "other.csv", {"results": ["a"]}, protect=[run_json], companions=[run_json])
    assert victim.read_text() == "id,text\n1,x\n" and run_json.read_text() == "{}"


def test_table_writer_companion_json_renamed_with_the_tables(tmp_path):
    out = tmp_path / "r.csv"
    meta = tmp_path / "r.run.json"
    with AtomicTableWriter(out, {"results": ["a"], "evidence": ["b"]}, companions=[meta]) as w:
        w.write("results", [{"a": "=1"}])
        w.add_json(meta, {"x": float("nan")})
    # the run record names every file of the run (issue 25), itself included
    assert json.loads(meta.read_text()) == {"x": None, "outputs": [str(out), str(tmp_path / "r.evidence.csv"),
                                                                   str(meta)]}
    assert (tmp_path / "r.evidence.csv").exists() and "'=1" in out.read_text(encoding="utf-8-sig")


# ------------------------------------------------------------------ folder outputs

def test_folder_with_foreign_files_is_refused_untouched(tmp_path):
    """Finding 1: `--out mywork` deleted the user's own files."""
    mine = tmp_path / "mywork"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"precious")
    for force in (False, True):
        with pytest.raises(InputError, match="holds other files"):
            FolderOutput(mine, "benchmark compare", force=force)
    assert (mine / "thesis.docx").read_bytes() == b"precious"


def test_folder_holding_an_input_is_refused(tmp_path):
    """Finding 1: `--out cohort` deleted the manifest, images and masks."""
    cohort = tmp_path / "cohort"
    (cohort / "images").mkdir(parents=True)
    image = cohort / "images" / "a.png"
    image.write_bytes(b"png")
    with pytest.raises(InputError, match="holds the input"):
        FolderOutput(cohort, "benchmark compare", force=True, inputs=[image])
    with pytest.raises(InputError, match="holds the input"):
        FolderOutput(cohort / "images" / "..", "benchmark compare", force=True, inputs=[image])


def test_earlier_output_replaced_only_with_force(tmp_path):
    out = tmp_path / "page"
    with FolderOutput(out, "benchmark compare") as stage:
        (stage / "index.html").write_text("one")
        (stage / "figures").mkdir()
        (stage / "figures" / "old.png").write_bytes(b"1")
    assert earlier_output_of(out) == "benchmark compare"
    with pytest.raises(InputError, match="--force"):
        FolderOutput(out, "benchmark compare")
    with pytest.raises(InputError, match="holds other files"):
        FolderOutput(out, "benchmark demo", force=True)  # another command's output is foreign
    inode = out.stat().st_ino
    with FolderOutput(out, "benchmark compare", force=True) as stage:
        (stage / "index.html").write_text("two")
    assert (out / "index.html").read_text() == "two"
    assert _tree(out) == {"index.html", MARKER}  # the earlier figure went with its output
    assert out.stat().st_ino == inode
    assert _tree(tmp_path) == {"page", "page/index.html", f"page/{MARKER}"}  # no .page.old-PID


def test_a_file_added_to_an_earlier_output_makes_it_foreign(tmp_path):
    out = tmp_path / "page"
    with FolderOutput(out, "benchmark compare") as stage:
        (stage / "index.html").write_text("one")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files"):
        FolderOutput(out, "benchmark compare", force=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_failure_leaves_no_folder_and_no_parents(tmp_path):
    out = tmp_path / "a" / "b" / "page"
    with pytest.raises(RuntimeError), FolderOutput(out, "x") as stage:
        (stage / "index.html").write_text("half")
        raise RuntimeError("failed")
    assert _tree(tmp_path) == set()


def test_failure_keeps_the_earlier_output(tmp_path):
    out = tmp_path / "page"
    with FolderOutput(out, "x") as stage:
        (stage / "index.html").write_text("one")
    with pytest.raises(RuntimeError), FolderOutput(out, "x", force=True) as stage:
        (stage / "index.html").write_text("two")
        raise RuntimeError("failed")
    assert (out / "index.html").read_text() == "one" and _tree(out) == {"index.html", MARKER}


def test_out_dot_writes_into_the_current_folder(tmp_path, monkeypatch):
    """Finding 10: `compare --out .` failed with "PosixPath('.') has an empty name"; the
    current folder must stay the same folder (a shell sitting in it keeps working)."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    inode = here.stat().st_ino
    with FolderOutput(".", "x") as stage:
        (stage / "index.html").write_text("page")
    assert Path("index.html").read_text() == "page"
    assert here.stat().st_ino == inode and Path.cwd().stat().st_ino == inode
    with pytest.raises(InputError, match="holds other files"):
        (here / "mine.txt").write_text("x")
        FolderOutput(".", "x", force=True)


def test_out_that_is_a_file_or_symlink_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    for bad in ("f", "link"):
        with pytest.raises(InputError, match="not a folder"):
            FolderOutput(tmp_path / bad, "x")
    with pytest.raises(InputError, match="not a folder"):
        FolderOutput(tmp_path / "f" / "sub", "x")


# ------------------------------------------------------------------ the error path

def _status(handler, capsys, **kw):
    code = run_command("prog", handler, **kw)
    return code, capsys.readouterr().err


def test_expected_errors_are_one_line_exit_2(capsys, tmp_path):
    code, err = _status(lambda: (_ for _ in ()).throw(InputError(f"{tmp_path}/x.csv: row 3, column a: bad")), capsys)
    assert code == EXIT_BAD_INPUT and err == f"prog: error: {tmp_path}/x.csv: row 3, column a: bad\n"
    code, err = _status(lambda: open(tmp_path / "missing.csv"), capsys)
    assert code == EXIT_BAD_INPUT and err.strip() == f"prog: error: {tmp_path}/missing.csv: No such file or directory"


def test_unexpected_error_one_line_with_debug_hint(capsys):
    def boom():
        raise KeyError("zzz")
    code, err = _status(boom, capsys)
    assert code == 1 and err.count("\n") == 1 and "run with --debug" in err and "Traceback" not in err
    code, err = _status(boom, capsys, debug=True)
    assert code == 1 and "Traceback" in err and "run with --debug" not in err


def test_sigterm_unwinds_and_removes_temporary_files(tmp_path, capsys):
    """Finding 9: SIGTERM during a write leaves no .tmp-* files."""
    def handler():
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("partial")
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")
    before = signal.getsignal(signal.SIGTERM)
    code, err = _status(handler, capsys)
    assert code == EXIT_TERMINATED and "terminated" in err
    assert _tree(tmp_path) == set()
    assert signal.getsignal(signal.SIGTERM) == before


def test_interrupt_and_broken_pipe(capsys):
    def interrupted():
        raise KeyboardInterrupt
    assert _status(interrupted, capsys)[0] == EXIT_INTERRUPTED

    def broken():
        raise BrokenPipeError(32, "Broken pipe")
    stdout = os.dup(1)
    try:
        code, err = _status(broken, capsys)
    finally:
        os.dup2(stdout, 1)
        os.close(stdout)
    assert code == EXIT_BROKEN_PIPE and err == ""


def test_argument_errors_are_one_line(capsys):
    parser = ArgumentParser(prog="tool")
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--n", "x"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith("tool: error: argument --n")


def test_a_screenshot_added_to_a_page_stays_part_of_it(tmp_path):
    from reportmine.core.outputs import add_to_folder_output

    out = tmp_path / "page"
    with FolderOutput(out, "benchmark compare") as stage:
        (stage / "index.html").write_text("page")
    (out / "screenshot.png").write_bytes(b"png")
    assert earlier_output_of(out) is None
    add_to_folder_output(out / "screenshot.png")
    assert earlier_output_of(out) == "benchmark compare"
    add_to_folder_output(tmp_path / "elsewhere.png")  # not a folder output: nothing happens
    assert not (tmp_path / MARKER).exists()


def test_the_committed_pages_are_recognised_as_earlier_outputs():
    """`benchmark demo` (default --out reports/demo) must be able to replace the shipped page."""
    root = Path(__file__).resolve().parent.parent / "reports"
    assert earlier_output_of(root / "demo") == "benchmark demo"
    assert earlier_output_of(root / "busi") == "benchmark compare"
