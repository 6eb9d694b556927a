"""Results keep the input's other columns, after the toolkit's own."""

import pandas as pd
from openpyxl import Workbook

from reportmine.mining.batch import RESULT_COLUMNS, classify_file, classify_frame

TEXTS = ["Left level II node, reactive.", "右侧IV区淋巴结伴微钙化。", "No cervical lymphadenopathy."]


def test_frame_results_carry_input_columns_after_ours():
    frame = pd.DataFrame({"ln_id": ["a", "b", "c"], "label": ["benign", "malignant", "benign"],
                          "report_text": TEXTS, "level": ["II", "IV", ""], "site": ["x", "y", "z"]},
                         index=[10, 11, 12])
    results, _ = classify_frame(frame)
    assert list(results.columns) == list(RESULT_COLUMNS) + ["ln_id", "input_label", "level", "site"]
    assert list(results.index) == [10, 11, 12]
    assert list(results["input_label"]) == ["benign", "malignant", "benign"]
    assert list(results["label"]) == ["benign", "malignant", "benign"]  # ours, from the text
    assert list(results["site"]) == ["x", "y", "z"] and list(results["id"]) == ["a", "b", "c"]


def test_csv_output_carries_columns(tmp_path):
    src = tmp_path / "cohort.csv"
    pd.DataFrame({"id": ["n1", "n2", "n3"], "text": TEXTS, "gold": ["benign", "malignant", "benign"],
                  "side": ["left", "right", ""]}).to_csv(src, index=False)
    summary = classify_file(src, tmp_path / "out.csv", chunksize=2)  # two chunks
    out = pd.read_csv(summary.output, dtype=str, keep_default_na=False)
    assert list(out.columns) == list(RESULT_COLUMNS) + ["gold", "side"]  # id is already ours
    assert list(out["gold"]) == ["benign", "malignant", "benign"]
    assert list(out["side"]) == ["left", "right", ""]


def test_xlsx_output_keeps_numbers_as_numbers(tmp_path):
    src = tmp_path / "cohort.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["report_text", "age", "row"])
    for i, text in enumerate(TEXTS):
        ws.append([text, 40 + i, f"r{i}"])
    wb.save(src)
    summary = classify_file(src, tmp_path / "out.xlsx")
    out = pd.read_excel(summary.output, sheet_name="results")
    assert list(out.columns[-2:]) == ["age", "input_row"]
    assert list(out["age"]) == [40, 41, 42] and out["age"].dtype.kind == "i"
    assert list(out["input_row"]) == ["r0", "r1", "r2"] and list(out["row"]) == [2, 3, 4]
