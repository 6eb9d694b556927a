"""The package layers: import-linter's contracts hold, catch a wrong import, and a statistics-only
install (no torch, no spaCy) can import the statistics and run the ``benchmark`` calculators."""

import json
import re
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


LAYERS = "layers: CLIs > compare > ynet | review > mining > stats > core"
INDEPENDENT = "ynet and report mining are independent"


@pytest.mark.parametrize(("module", "line", "contracts"), [
    # a new module in each layer reaching up (or sideways) breaks the one layers contract
    ("reportmine/core/_wrong.py", "import reportmine.stats\n", {LAYERS}),
    ("reportmine/stats/_wrong.py", "from reportmine.mining import classify\n", {LAYERS}),
    # (compare reaches ynet, so this one also joins mining to the network, indirectly)
    ("reportmine/mining/_wrong.py", "import reportmine.compare.run\n", {LAYERS, INDEPENDENT}),
    ("reportmine/mining/_wrong.py", "from reportmine.review import page\n", {LAYERS}),
    ("reportmine/review/_wrong.py", "import ynet.train\n", {LAYERS}),
    ("reportmine/compare/_wrong.py", "import reportmine.cli\n", {LAYERS}),
    # mining and the network never meet, whichever way
    ("reportmine/mining/_wrong.py", "import ynet.train\nimport reportmine.compare.run\n", {LAYERS, INDEPENDENT}),
    ("ynet/_wrong.py", "import reportmine.mining.batch\n", {INDEPENDENT}),
    # an existing module edited the wrong way is caught the same
    ("reportmine/mining/statements.py", "import reportmine.compare.run  # wrong\n", {LAYERS, INDEPENDENT}),
])
def test_a_wrong_import_is_caught(tmp_path, module, line, contracts):
    _copy_checkout(tmp_path)
    target = tmp_path / module
    before = target.read_text(encoding="utf-8") + "\n" if target.exists() else ""
    target.write_text(before + line, encoding="utf-8")
    done = _lint(tmp_path)
    assert done.returncode != 0
    broken = {row.removesuffix(" BROKEN") for row in done.stdout.splitlines() if row.endswith(" BROKEN")}
    assert broken == contracts, done.stdout[-3000:]


def test_every_package_module_sits_in_a_layer():
    """A new top-level package or module of ours must be placed in the contract, not slip past it."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    named = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    ours = {f"reportmine.{p.stem}" for p in (ROOT / "reportmine").iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert ours - named == set(), "place these in the layers contract of pyproject.toml"
    assert "ynet" in named


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
    # defusedxml: openpyxl parses workbooks with it (no DTD or entity expansion), pure Python
    assert base == {"numpy", "scipy", "pandas", "openpyxl", "defusedxml"}

    def extra(name):
        return {re.split(r"[;<>=!~\[, ]", r, maxsplit=1)[0].strip().lower() for r in requires
                if f"extra == '{name}'" in r.replace('"', "'")}

    assert {"rapidfuzz"} <= extra("mining") and "spacy" not in extra("mining") and "torch" not in extra("mining")
    assert extra("spacy") >= {"spacy", "rapidfuzz"}  # the pipeline component brings the mining stack
    assert {"torch", "pillow", "pydicom"} <= extra("ynet") and "spacy" not in extra("ynet")
    assert extra("mining") | extra("ynet") | {"jinja2"} <= extra("all")  # hatchling inlines reportmine[...]
    assert {"pytest", "statsmodels", "import-linter"} <= extra("test")
    assert not {"segmentation-models-pytorch", "monai"} & {r.split(">")[0].strip().lower() for r in requires}
