"""End-to-end `reportmine classify` on real .xlsx and GB18030 .csv files made in the test."""

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from reportmine.cli import main

REPORTS = [
    ("r1", "右侧颈部III区淋巴结内见微钙化，淋巴门消失。"),
    ("r2", "双侧颈部未见明显肿大淋巴结。"),
    ("r3", "Right level IV node; metastasis cannot be excluded."),
    ("r4", "=HYPERLINK(\"http://x\",\"click\") no abnormal cervical lymph nodes"),
    ("r5", ""),
]


def _write_xlsx(path: Path, rows, header=("id", "report_text"), sheet="reports"):
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    for cells in ws.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text that starts with "=" stays text, as in a real export
    wb.save(path)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_xlsx_round_trip(tmp_path, capsys):
    src = tmp_path / "reports.xlsx"
    _write_xlsx(src, REPORTS + [("r6", 12345)])
    code, out, err = _run(capsys, "classify", src, "--quiet")
    assert code == 0, err
    result = tmp_path / "reports.classified.xlsx"
    wb = load_workbook(result)
    assert wb.sheetnames == ["results", "evidence", "run"]
    results = pd.read_excel(result, sheet_name="results", dtype={"id": str})
    labels = dict(zip(results["id"], results["label"]))
    assert labels == {"r1": "malignant", "r2": "benign", "r3": "indeterminate", "r4": "benign",
                      "r5": "indeterminate", "r6": "indeterminate"}
    assert set(results.loc[results["id"].isin(["r5", "r6"]), "reason"]) == {"empty"}
    evidence = pd.read_excel(result, sheet_name="evidence", dtype={"id": str})
    assert {"matched_text", "start", "end", "entry", "score", "negated", "hedged"} <= set(evidence.columns)
    assert "微钙化" in set(evidence.loc[evidence["id"] == "r1", "matched_text"])
    # formula injection: the cell is stored as text with a leading apostrophe
    raw = wb["results"]
    texts = [row[-1].value for row in raw.iter_rows(min_row=2)]
    assert any(t and t.startswith("'=HYPERLINK") for t in texts)
    run = {r[0].value: r[1].value for r in wb["run"].iter_rows(min_row=2)}
    assert run["config.text_column"] == "report_text" and len(run[f"inputs_sha256.{src}"]) == 64
    assert "malignant" in out and "empty or non-text cells: 2" in out


def test_gb18030_csv_and_bom_csv(tmp_path, capsys):
    rows = [("a1", "右侧颈部IV区淋巴结，考虑转移可能。"), ("a2", "颈部：双侧II区淋巴结淋巴门存在。")]
    for encoding in ("gb18030", "utf-8-sig"):
        src = tmp_path / f"export-{encoding}.csv"
        with open(src, "w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["编号", "超声所见"])
            writer.writerows(rows)
        out = tmp_path / f"labels-{encoding}.csv"
        code, stdout, err = _run(capsys, "classify", src, "--out", out, "--quiet")
        assert code == 0, err
        results = pd.read_csv(out, encoding="utf-8-sig")
        assert list(results["label"]) == ["malignant", "benign"]
        assert list(results["id"]) == ["a1", "a2"]
        assert out.with_suffix(".evidence.csv").exists()
        meta = json.loads(out.with_suffix(".run.json").read_text(encoding="utf-8"))
        assert meta["config"]["text_column"] == "超声所见"


def test_forced_encoding(tmp_path, capsys):
    src = tmp_path / "r.csv"
    src.write_bytes("id,text\n1,双侧颈部未见肿大淋巴结。\n".encode("gb18030"))
    code, _, err = _run(capsys, "classify", src, "--encoding", "gbk", "--quiet")
    assert code == 0, err


@pytest.mark.parametrize("problem", ["missing", "corrupt", "sheet", "column", "undecodable", "ambiguous",
                                     "empty"])
def test_bad_input_one_line_exit_2_no_output(tmp_path, capsys, problem):
    src = tmp_path / "in.xlsx"
    extra = []
    if problem == "missing":
        src = tmp_path / "nope.xlsx"
    elif problem == "corrupt":
        src.write_bytes(b"PK\x03\x04 not really a zip")
    elif problem == "sheet":
        _write_xlsx(src, REPORTS)
        extra = ["--sheet", "Sheet9"]
    elif problem == "column":
        _write_xlsx(src, REPORTS)
        extra = ["--text-col", "findings"]
    elif problem == "undecodable":
        src = tmp_path / "in.csv"
        src.write_bytes(b"id,text\n1,\xff\xfe\xfa\xfb\x81\x30 bad\n")
    elif problem == "ambiguous":
        _write_xlsx(src, [("a", "right level III node with necrosis", "left level II node, normal")],
                    header=("id", "first", "second"))
    elif problem == "empty":
        _write_xlsx(src, [], header=("id", "text"))
    out = tmp_path / "out.xlsx"
    code, stdout, err = _run(capsys, "classify", src, "--out", out, "--quiet", *extra)
    assert code == 2
    message = err.strip()
    assert "\n" not in message and message.startswith("reportmine: error:")
    assert src.name in message
    if problem == "column":
        assert "report_text" in message  # lists the columns
    if problem == "ambiguous":
        assert "first" in message and "second" in message
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_never_overwrites_input(tmp_path, capsys):
    src = tmp_path / "reports.xlsx"
    _write_xlsx(src, REPORTS)
    before = src.read_bytes()
    code, _, err = _run(capsys, "classify", src, "--out", src, "--quiet")
    assert code == 2 and "overwrite" in err
    assert src.read_bytes() == before


def test_pathological_cell_is_flagged_and_counted(tmp_path, capsys):
    src = tmp_path / "big.csv"
    huge = "甲状腺回声均匀。" * 130_000  # about 1 MB of text in one cell
    pd.DataFrame({"id": ["x", "y"], "text": [huge, "No cervical lymphadenopathy."]}).to_csv(src, index=False)
    code, out, err = _run(capsys, "classify", src, "--quiet")
    assert code == 0, err
    assert "truncated (too long): 1" in out
    results = pd.read_csv(tmp_path / "big.classified.csv")
    assert results.loc[results["id"] == "x", "flags"].item() == "truncated"
    assert results.loc[results["id"] == "y", "label"].item() == "benign"


def test_target_node_columns_are_used(tmp_path, capsys):
    src = tmp_path / "fna.csv"
    text = "Left level II node, reactive. Right level IV node with microcalcifications."
    pd.DataFrame({"id": ["n1", "n2"], "report_text": [text, text], "level": ["II", "IV"],
                  "side": ["left", "right"]}).to_csv(src, index=False)
    code, out, err = _run(capsys, "classify", src, "--quiet")
    assert code == 0, err
    results = pd.read_csv(tmp_path / "fna.classified.csv")
    assert list(results["label"]) == ["benign", "malignant"]
    assert results["target_node"].str.contains("statement").all()


def test_explain_and_two_class(capsys):
    code, out, _ = _run(capsys, "explain", "左侧II区淋巴结良恶性待鉴别。", "--two-class", "malignant")
    assert code == 0
    assert out.startswith("label: malignant") and "待鉴别" in out and "--two-class" in out


def test_bad_dictionary_option(tmp_path, capsys):
    code, _, err = _run(capsys, "explain", "x", "--dictionary", tmp_path / "none.csv")
    assert code == 2 and "none.csv" in err
