"""Issue 10, finding by finding: each test names the finding it covers (F1 … F11).

Every one of these failed on the code before the fix (a traceback, a deleted or overwritten
file, a leftover, a wrong exit status or an unhelpful message) and passes after it. The
ynet findings are in tests/test_ynet_safety.py.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportmine.bench_cli import main as bench
from reportmine.cli import main as reportmine
from reportmine.compare.demo import make_demo_cohort

REPO = Path(__file__).resolve().parent.parent


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(err: str, prog: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}") and "error:" in lines[0], err
    assert "Traceback" not in err
    return lines[0]


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO), **extra)


def _unprivileged(cmd: list[str]) -> list[str]:
    """Run without the power to ignore file permissions (root ignores chmod otherwise)."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file permissions cannot be tested")
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", *cmd]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    return make_demo_cohort(root / "cohort", n=40, seed=3)


@pytest.fixture(scope="module")
def predictions(cohort, tmp_path_factory):
    frame = pd.read_csv(cohort, dtype=str)
    test = frame[frame["split"] == "test"]
    rng = np.random.default_rng(0)
    probs = np.clip(0.5 + 0.3 * (test["label"] == "malignant") + rng.normal(0, 0.2, len(test)), 0.01, 0.99)
    path = tmp_path_factory.mktemp("preds") / "preds.csv"
    pd.DataFrame({"ln_id": test["ln_id"], "prob_malignant": probs}).to_csv(path, index=False)
    return path


def _compare(cohort, predictions, out, *extra):
    return bench(["compare", "--manifest", str(cohort), "--predictions", str(predictions), "--threshold", "0.5",
                  "--out", str(out), *map(str, extra)])


def _reports_csv(path: Path, n: int = 4) -> Path:
    texts = ["No abnormal cervical lymph nodes.", "Right level III node; metastasis.",
             "双侧颈部未见明显肿大淋巴结。", "Reactive hyperplasia of a level II node."]
    pd.DataFrame({"id": [f"r{i}" for i in range(n)],
                  "report_text": [texts[i % 4] for i in range(n)]}).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ F1

def test_f1_compare_never_deletes_a_foreign_folder(cohort, predictions, tmp_path, capsys):
    mine = tmp_path / "mywork"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"two years of work")
    before = _hashes(mine)
    for extra in ((), ("--force",)):
        assert _compare(cohort, predictions, mine, *extra) == 2
        assert "holds other files" in _one_line_error(capsys.readouterr().err, "benchmark compare")
    assert _hashes(mine) == before


def test_f1_compare_never_deletes_the_cohort(cohort, predictions, capsys):
    folder = cohort.parent
    before = _hashes(folder)
    for out in (folder, folder / "images", folder / "masks"):
        assert _compare(cohort, predictions, out, "--force") == 2
        assert "holds" in _one_line_error(capsys.readouterr().err, "benchmark compare")
    assert _hashes(folder) == before


def test_f1_force_replaces_only_an_earlier_compare_output(cohort, predictions, tmp_path, capsys):
    out = tmp_path / "page"
    assert _compare(cohort, predictions, out) == 0
    assert _compare(cohort, predictions, out) == 2
    assert "--force" in _one_line_error(capsys.readouterr().err, "benchmark compare")
    assert _compare(cohort, predictions, out, "--force") == 0
    assert (out / "index.html").exists()


# ------------------------------------------------------------------ F4

def test_f4_classify_evidence_sidecar_never_overwrites_the_input(tmp_path, capsys):
    victim = _reports_csv(tmp_path / "victim.evidence.csv")
    before = victim.read_bytes()
    assert reportmine(["classify", str(victim), "--out", str(tmp_path / "victim.csv"), "--quiet"]) == 2
    assert "would overwrite the input" in _one_line_error(capsys.readouterr().err, "reportmine")
    assert victim.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.evidence.csv"]


def test_f4_classify_never_overwrites_its_dictionary(tmp_path, capsys):
    dictionary = tmp_path / "en.csv"
    shutil.copy(REPO / "dictionaries" / "en.csv", dictionary)
    before = dictionary.read_bytes()
    reports = _reports_csv(tmp_path / "r.csv")
    assert reportmine(["classify", str(reports), "--dictionary", str(dictionary), "--out", str(dictionary),
                       "--quiet"]) == 2
    assert "would overwrite the input" in _one_line_error(capsys.readouterr().err, "reportmine")
    assert dictionary.read_bytes() == before


# ------------------------------------------------------------------ F5

@pytest.mark.parametrize("argv, says", [
    (["--max-n", "1000000000"], "--max-n"), (["--n", "100000000"], "--n"),
    (["--n-pos", "100000000", "--n-neg", "5"], "--n-pos")])
def test_f5_reconstruct_refuses_beyond_its_documented_limits(argv, says, capsys):
    assert bench(["reconstruct", "--sen", "30", "--spe", "40", *argv]) == 2
    line = _one_line_error(capsys.readouterr().err, "benchmark reconstruct")
    assert says in line and "1,000,000" in line


def _limited(argv: list[str], mb: int = 2000):
    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
    return subprocess.run([sys.executable, "-m", "reportmine.bench_cli", *argv], capture_output=True, text=True,
                          env=_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"), preexec_fn=limit, timeout=300)


@pytest.mark.parametrize("values", [
    ["--sen", "95.14", "--spe", "34.3", "--acc", "64.66", "--ppv", "59.02", "--npv", "87.71"],
    ["--sen", "57.25", "--spe", "87.08", "--acc", "72.03", "--ppv", "81.87", "--npv", "66.67"],
    ["--sen", "84.78", "--spe", "80.23"]])
def test_f5_reconstruct_a_million_in_bounded_memory(values):
    """--max-n 1000000 used to build a list of 10^12 pairs (23 GB); now it runs in 2 GB."""
    proc = _limited(["reconstruct", *values, "--max-n", "1000000", "--json"])
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["consistent"] or payload["best_fits"]
    if values[1] == "95.14":  # the paper's report row: the known best fit is found
        best = payload["best_fits"][0]
        assert (best["tp"], best["fp"], best["fn"], best["tn"]) == (1450, 1007, 74, 528)
    if values[1] == "57.25":
        assert (payload["consistent"][0]["n_pos"], payload["consistent"][0]["n_neg"]) == (276, 271)


def test_f5_reconstruct_20000_no_memory_error():
    proc = _limited(["reconstruct", "--sen", "95.14", "--spe", "34.3", "--max-n", "20000"])
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr


# ------------------------------------------------------------------ F6

@pytest.mark.parametrize("argv, says", [
    (["reconstruct", "--sen", "nan", "--spe", "30"], "not a finite number"),
    (["reconstruct", "--sen", "inf", "--spe", "30"], "not a finite number"),
    (["metrics", "--tp", "1", "--fp", "1", "--fn", "1", "--tn", "1", "--conf-level", "nan"], "not a finite"),
])
def test_f6_non_finite_options_are_one_line(argv, says, capsys):
    assert bench(argv) == 2
    assert says in _one_line_error(capsys.readouterr().err, "benchmark")


def test_f6_out_that_is_a_folder_or_in_proc(tmp_path, capsys):
    reports = _reports_csv(tmp_path / "r.csv")
    for out, says in ((tmp_path, "is a folder"), (Path("/proc/x.xlsx"), "/proc")):
        assert reportmine(["classify", str(reports), "--out", str(out), "--quiet"]) == 2
        assert says in _one_line_error(capsys.readouterr().err, "reportmine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


@pytest.fixture
def shared_dir():
    """A folder outside pytest's private (0700) tmp, so an unprivileged process can use it."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="reportmine-perm-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_f6_read_only_folder_and_unreadable_input(shared_dir):
    reports = _reports_csv(shared_dir / "r.csv")
    reports.chmod(0o644)
    read_only = shared_dir / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    secret = _reports_csv(shared_dir / "secret.csv")
    secret.chmod(0o000)
    cmd = [sys.executable, "-m", "reportmine.cli", "classify"]
    for argv, says in (([str(reports), "--out", str(read_only / "x.csv")], "not writable"),
                       ([str(secret), "--out", str(shared_dir / "x.csv")], "cannot read")):
        proc = subprocess.run(_unprivileged([*cmd, *argv, "--quiet"]), capture_output=True, text=True, env=_env())
        assert proc.returncode == 2, proc.stderr
        assert says in _one_line_error(proc.stderr, "reportmine")
    assert sorted(p.name for p in shared_dir.rglob("*")) == ["r.csv", "ro", "secret.csv"]


def test_f6_compare_into_a_read_only_parent(shared_dir, cohort, predictions):
    parent = shared_dir / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    proc = subprocess.run(_unprivileged([sys.executable, "-m", "reportmine.bench_cli", "compare", "--manifest",
                                         str(cohort), "--predictions", str(predictions), "--threshold", "0.5",
                                         "--out", str(parent / "page")]),
                          capture_output=True, text=True, env=_env())
    assert proc.returncode == 2, proc.stderr
    assert "not writable" in _one_line_error(proc.stderr, "benchmark compare")
    assert list(parent.iterdir()) == []


# ------------------------------------------------------------------ F7

@pytest.mark.parametrize("value, says", [(7.5, "not a probability"), (-3, "not a probability"),
                                         ("nan", "not a number"), ("", "not a number")])
def test_f7_compare_probabilities_must_be_probabilities(cohort, predictions, tmp_path, capsys, value, says):
    frame = pd.read_csv(predictions, dtype={"ln_id": str}).astype({"prob_malignant": object})
    frame.loc[3, "prob_malignant"] = value
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    assert _compare(cohort, bad, tmp_path / "page") == 2
    line = _one_line_error(capsys.readouterr().err, "benchmark compare")
    assert "row 5" in line and "prob_malignant" in line and says in line
    assert not (tmp_path / "page").exists()


def test_f7_sheet_on_a_csv_is_an_error(tmp_path, capsys):
    reports = _reports_csv(tmp_path / "r.csv")
    assert reportmine(["classify", str(reports), "--sheet", "Sheet2", "--quiet"]) == 2
    assert "--sheet" in _one_line_error(capsys.readouterr().err, "reportmine")


def test_f7_decimals_400_refused_without_warnings(capsys):
    assert bench(["reconstruct", "--sen", "30", "--spe", "40", "--decimals", "400"]) == 2
    err = capsys.readouterr().err
    assert "RuntimeWarning" not in err and "--decimals" in _one_line_error(err, "benchmark reconstruct")


def test_f7_compare_threshold_must_be_a_probability(cohort, predictions, tmp_path, capsys):
    for threshold in ("7", "nan", "-0.1"):
        assert bench(["compare", "--manifest", str(cohort), "--predictions", str(predictions), "--threshold",
                      threshold, "--out", str(tmp_path / "p")]) == 2
        assert "--threshold" in _one_line_error(capsys.readouterr().err, "benchmark compare")


# ------------------------------------------------------------------ F9

def _wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_f9_sigterm_during_classify_leaves_nothing(tmp_path, suffix):
    """SIGTERM used to leave 50 MB of .tmp-* files beside the output and openpyxl's in $TMPDIR."""
    reports = _reports_csv(tmp_path / "big.csv", n=20_000)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    out = tmp_path / f"out{suffix}"
    proc = subprocess.Popen([sys.executable, "-m", "reportmine.cli", "classify", str(reports), "--out", str(out),
                             "--quiet"], env=_env(TMPDIR=str(tmpdir)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        started = _wait_for(lambda: any(p.name.startswith(".tmp-") and p.stat().st_size > 0
                                        for p in tmp_path.iterdir()) or proc.poll() is not None)
        assert started and proc.poll() is None, "classify ended before it could be interrupted"
        if suffix == ".xlsx":
            assert _wait_for(lambda: any(p.name.startswith("openpyxl") for p in tmpdir.iterdir()))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "tmpdir"]
    assert list(tmpdir.iterdir()) == []


def test_f9_compare_leaves_no_old_page_beside_the_output(cohort, predictions, tmp_path):
    out = tmp_path / "page"
    assert _compare(cohort, predictions, out) == 0
    assert _compare(cohort, predictions, out, "--force") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page"]


# ------------------------------------------------------------------ F10

def test_f10_roc_on_a_header_only_file(tmp_path, capsys):
    path = tmp_path / "scores.csv"
    path.write_text("label,score\n")
    assert bench(["roc", str(path), "--label-col", "label", "--score-col", "score"]) == 2
    line = _one_line_error(capsys.readouterr().err, "benchmark roc")
    assert "no data rows" in line and "zero-size" not in line


def test_f10_compare_out_dot(cohort, predictions, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert _compare(cohort, predictions, ".") == 0
    assert (here / "index.html").exists() and (here / "tables.xlsx").exists()
    assert Path.cwd().stat().st_ino == here.stat().st_ino


def test_f10_explain_binary_junk_in_argv():
    proc = subprocess.run([sys.executable, "-m", "reportmine.cli", "explain", b"\xff\xfe abnormal \x80 node"],
                          capture_output=True, env=_env(LC_ALL="C.UTF-8"))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2 and "surrogates" not in err
    assert "byte 0xff" in _one_line_error(err, "reportmine")


def test_f10_encoding_error_names_the_record_not_the_line(tmp_path, capsys):
    """Quoted cells spanning two lines: the bad row is record 11002, physical line ~22002."""
    path = tmp_path / "r.csv"
    body = "".join(f'r{i},"no abnormal lymph node\nsecond line"\n' for i in range(2, 11002))
    path.write_bytes(b"id,report_text\n" + body.encode() + b"r11002,abnormal \xff node\n")
    assert reportmine(["classify", str(path), "--quiet", "--encoding", "utf-8"]) == 2
    line = _one_line_error(capsys.readouterr().err, "reportmine")
    assert "row 11002" in line and "report_text" in line


# ------------------------------------------------------------------ F11

def test_f11_outputs_follow_the_umask(cohort, predictions, tmp_path):
    old = os.umask(0o022)
    try:
        reports = _reports_csv(tmp_path / "r.csv")
        assert reportmine(["classify", str(reports), "--out", str(tmp_path / "r.out.xlsx"), "--quiet"]) == 0
        assert reportmine(["classify", str(reports), "--out", str(tmp_path / "r.out.csv"), "--quiet"]) == 0
        assert _compare(cohort, predictions, tmp_path / "page") == 0
    finally:
        os.umask(old)
    written = [tmp_path / "r.out.xlsx", tmp_path / "r.out.csv", tmp_path / "r.out.evidence.csv",
               tmp_path / "r.out.run.json", *(p for p in (tmp_path / "page").rglob("*") if p.is_file())]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in written), \
        {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    folders = [tmp_path / "page", *(p for p in (tmp_path / "page").rglob("*") if p.is_dir())]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o755 for p in folders)


# ------------------------------------------------------------------ one error path

def test_unexpected_errors_say_debug(monkeypatch, tmp_path, capsys):
    import reportmine.mining.batch as batch

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(batch, "classify_file", broken)
    reports = _reports_csv(tmp_path / "r.csv")
    assert reportmine(["classify", str(reports), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--debug" in err and "Traceback" not in err and err.count("\n") == 1
    assert reportmine(["--debug", "classify", str(reports), "--quiet"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert reportmine(["classify", str(reports), "--quiet", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


# ------------------------------------------------------------------ F1, the demo

def test_f1_demo_replaces_only_its_own_output(cohort, tmp_path):
    from reportmine.compare.demo import run_demo
    from reportmine.core.errors import InputError

    out, runs = tmp_path / "demo", tmp_path / "runs"
    page = run_demo(out, epochs=1, cohort=cohort.parent, keep_runs=runs)
    assert page == out / "index.html" and page.exists()
    assert (runs / "reports.classified.xlsx").exists() and (runs / "seg_cls" / "fold_0" / "best.pt").exists()
    # the page's record names the kept runs where they are now, not the staging folder they were made in
    recorded = re.findall(r'"([^"]+\.(?:pt|xlsx))"', (out / "run.json").read_text(encoding="utf-8"))
    assert {Path(p).name for p in recorded} >= {"best.pt", "reports.classified.xlsx"}
    where = [out / p for p in recorded]  # recorded relative to the page's folder
    assert all(p.exists() and p.resolve().is_relative_to(runs.resolve()) for p in where), recorded
    first = (out / "index.html").stat().st_mtime_ns
    run_demo(out, epochs=1, cohort=cohort.parent, keep_runs=runs)  # its own earlier output: replaced
    assert (out / "index.html").stat().st_mtime_ns != first
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files"):
        run_demo(out, epochs=1, cohort=cohort.parent)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "runs"]


def test_jobs_beyond_the_limit_refused_before_forking():
    """`classify --jobs 100000` forked 100,000 worker processes (found by the hostile run)."""
    from reportmine.core.errors import InputError
    from reportmine.mining.batch import MAX_JOBS_PER_CORE, resolve_jobs

    cores = resolve_jobs(0)
    assert resolve_jobs(MAX_JOBS_PER_CORE * cores) == MAX_JOBS_PER_CORE * cores
    for bad in (MAX_JOBS_PER_CORE * cores + 1, 100_000, -1):
        with pytest.raises(InputError, match="--jobs"):
            resolve_jobs(bad)
