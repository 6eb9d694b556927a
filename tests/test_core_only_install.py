"""A core-only install (``pip install reportmine``, no extras) answers every command that needs an
extra with one line naming the ``pip install`` that adds it, exit 2: never a traceback or an
"internal error". The missing packages are simulated by an import blocker in a subprocess."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from reportmine.core.errors import EXIT_BAD_INPUT, install_hint

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")

# the import name of each distribution an extra adds (a new one must be named here, or the
# blocker would let it through and the test would not see the command need it)
IMPORT_NAMES = {"rapidfuzz": "rapidfuzz", "tqdm": "tqdm", "jinja2": "jinja2", "torch": "torch",
                "pillow": "PIL", "pydicom": "pydicom", "scikit-learn": "sklearn",
                "matplotlib": "matplotlib"}
EXTRAS = ("mining", "ynet", "all")


def _distribution(requirement: str) -> str:
    name = requirement
    for stop in "<>=[;! ":
        name = name.split(stop)[0]
    return name.strip().lower()


def _requirements(extra: str) -> list[str]:
    """An extra's requirements, read from its one line in pyproject.toml (no TOML parser on 3.10)."""
    (line,) = re.findall(rf"^{extra} = \[(.*)\]$", PYPROJECT, flags=re.MULTILINE)
    return re.findall(r'"([^"]+)"', line)


def _blocked() -> set[str]:
    names = {_distribution(r) for extra in EXTRAS for r in _requirements(extra)} - {"reportmine"}
    unknown = names - set(IMPORT_NAMES)
    assert not unknown, f"name the import of {sorted(unknown)} in IMPORT_NAMES"
    return {IMPORT_NAMES[n] for n in names} | {"markupsafe"}  # markupsafe comes with jinja2


RUN = """
import importlib, importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
tool = {"reportmine": "reportmine.cli", "ynet": "ynet.cli", "benchmark": "reportmine.bench_cli"}[sys.argv[2]]
sys.exit(importlib.import_module(tool).main(sys.argv[3:]))
"""


def _run(tool: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, ",".join(sorted(_blocked())), tool, *argv],
                          capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    where = tmp_path_factory.mktemp("core_only")
    (where / "reports.csv").write_text("id,report_text\n1,Level III node on the left: benign.\n",
                                       encoding="utf-8")
    (where / "manifest.csv").write_text("id,image,label\n1,a.png,benign\n", encoding="utf-8")
    return where


@pytest.mark.parametrize(("command", "extra"), [
    (("reportmine", "classify", "reports.csv"), "mining"),
    (("reportmine", "context", "reports.csv", "--text-col", "report_text", "--term-col", "id"), "mining"),
    (("reportmine", "explain", "Level III node: malignant."), "mining"),
    (("reportmine", "review", "reports.csv"), "mining"),
    (("ynet", "info"), "ynet"),
    (("ynet", "duplicates", "--manifest", "manifest.csv", "--out", "pairs.csv"), "ynet"),
    (("ynet", "train", "--manifest", "manifest.csv", "--out", "run"), "ynet"),
    (("ynet", "predict", "--model", "m.pt", "--manifest", "manifest.csv", "--out", "p.csv"), "ynet"),
    (("benchmark", "compare", "--manifest", "manifest.csv", "--reports", "reports.csv", "--out", "page"),
     "all"),
    (("benchmark", "demo", "--out", "demo"), "all"),
])
def test_a_command_needing_an_extra_names_it_in_one_line(inputs, command, extra):
    done = _run(*command, cwd=inputs)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert f'pip install "reportmine[{extra}]"' in lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in done.stderr
    assert sorted(p.name for p in inputs.iterdir()) == ["manifest.csv", "reports.csv"]  # nothing written


@pytest.mark.parametrize("command", [
    ("benchmark", "metrics", "--tp", "40", "--fp", "10", "--fn", "5", "--tn", "45"),
    ("reportmine", "--help"),
    ("ynet", "--help"),
    ("benchmark", "--help"),
])
def test_the_core_commands_and_help_need_no_extra(inputs, command):
    done = _run(*command, cwd=inputs)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def test_a_missing_module_of_our_own_is_not_blamed_on_an_extra():
    ours = ModuleNotFoundError("No module named 'reportmine.nowhere'", name="reportmine.nowhere")
    theirs = ModuleNotFoundError("No module named 'torch.nn'", name="torch.nn")
    assert install_hint(ours, "mining") is None
    assert install_hint(theirs, "ynet").endswith('pip install "reportmine[ynet]"')
    assert "'torch'" in install_hint(theirs, None) and "reportmine[all]" in install_hint(theirs, None)
