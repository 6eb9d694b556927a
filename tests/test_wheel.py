"""The dictionaries are found when the package is installed from a wheel, outside the checkout."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_dictionaries_and_classifies(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("reportmine-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "reportmine/_dictionaries/en.csv" in names and "reportmine/_dictionaries/zh.csv" in names
    assert "reportmine/data/example_reports.xlsx" in names
    assert "reportmine/compare/templates/page.html.j2" in names
    assert "reportmine/data/demo_cohort/manifest.csv" in names

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reports = elsewhere / "reports.csv"
    reports.write_text("id,text\n1,左侧颈部IV区淋巴结转移。\n2,No cervical lymphadenopathy.\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(site))
    code = ("import sys, reportmine, reportmine.mining.dictionary as d; from reportmine.cli import main; "
            "print(reportmine.__file__); print(d.default_dictionary_dir()); sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "classify", str(reports), "--quiet"], cwd=elsewhere,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    module_file, dictionary_dir = done.stdout.splitlines()[:2]
    assert module_file.startswith(str(site)) and dictionary_dir.startswith(str(site))
    out = (elsewhere / "reports.classified.csv").read_text(encoding="utf-8-sig")
    assert "malignant" in out and "benign" in out
