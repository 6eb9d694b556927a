"""The package layers: import-linter's contracts hold, catch a wrong import, and a statistics-only
install (no torch, no spaCy) can import the statistics and run the ``benchmark`` calculators."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                              "sys.exit(lint_imports_command())"]


def _copy_checkout(dest: Path) -> None:
    for package in ("reportmine", "ynet"):
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _lint(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*LINT, "--no-cache"], cwd=where, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"})


def test_contracts_hold_on_the_checkout(tmp_path):
    _copy_checkout(tmp_path)
    done = _lint(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("reportmine/core/_wrong.py", "import reportmine.stats\n", "reportmine.core imports nothing else of ours"),
    ("reportmine/stats/_wrong.py", "from reportmine import classify\n", "reportmine.stats imports only"),
    ("reportmine/_wrong_mining.py", None, "report mining imports the core"),
    ("ynet/_wrong.py", "import reportmine.batch\n", "ynet imports the core and the statistics"),
    ("reportmine/review.py", "import ynet.train\n", "review (when present) and ynet"),
])
def test_a_wrong_import_is_caught(tmp_path, module, line, contract):
    _copy_checkout(tmp_path)
    if line is None:  # a mining module that reaches into the comparison
        target = tmp_path / "reportmine" / "context.py"
        target.write_text(target.read_text(encoding="utf-8") + "\nimport reportmine.compare.run  # wrong\n",
                          encoding="utf-8")
    else:
        (tmp_path / module).write_text(line, encoding="utf-8")
    done = _lint(tmp_path)
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), done.stdout[-3000:]


BLOCK = """
import importlib.abc, json, sys
HEAVY = ("torch", "torchvision", "spacy", "rapidfuzz", "sklearn", "statsmodels", "PIL", "pydicom", "jinja2",
         "matplotlib", "ynet")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{name} is not installed (blocked)")
sys.meta_path.insert(0, Block())
import reportmine.stats, reportmine.core.outputs, reportmine.core.tables, reportmine.bench_cli
from reportmine.bench_cli import main
code = main(["metrics", "--tp", "40", "--fp", "10", "--fn", "5", "--tn", "45", "--json"])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
sys.exit(code)
"""


def test_statistics_and_calculators_need_neither_torch_nor_spacy():
    done = subprocess.run([sys.executable, "-c", BLOCK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    metrics = json.loads(lines[0])
    assert json.loads(lines[-1]) == []
    assert metrics["sensitivity"]["estimate"] == pytest.approx(40 / 45)  # computed without the heavy stack
    assert metrics["specificity"]["estimate"] == pytest.approx(45 / 55)


def test_wheel_declares_a_light_base_and_the_extras(tmp_path):
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("reportmine-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        meta = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    base = {r.split(";")[0].split(">")[0].split("=")[0].strip().lower() for r in requires if "extra ==" not in r}
    assert base == {"numpy", "scipy", "pandas", "openpyxl"}

    def extra(name):
        return {r.split(";")[0].split(">")[0].split("[")[0].strip().lower() for r in requires
                if f"extra == '{name}'" in r.replace('"', "'")}

    assert {"rapidfuzz"} <= extra("mining") and "spacy" not in extra("mining") and "torch" not in extra("mining")
    assert {"torch", "pillow", "pydicom"} <= extra("ynet") and "spacy" not in extra("ynet")
    assert extra("mining") | extra("ynet") | {"jinja2"} <= extra("all")  # hatchling inlines reportmine[...]
    assert {"pytest", "statsmodels", "import-linter"} <= extra("test")
    assert not {"segmentation-models-pytorch", "monai"} & {r.split(">")[0].strip().lower() for r in requires}
