"""The review page in a real browser (Playwright driving the system's Chromium, no download):
no console errors, filters show exactly the matching reports, paging, cue scope on focus,
labels set by click and keyboard download as the expected CSV, and that CSV applied with
`reportmine classify --overrides` changes exactly those labels."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pandas as pd
import pytest

from reportmine.benchmarks.review_page import chromium_path
from reportmine.cli import main

try:
    import playwright.sync_api  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    playwright_missing = "playwright is not installed (pip install playwright)"
else:
    playwright_missing = ""

pytestmark = [
    pytest.mark.skipif(bool(playwright_missing), reason=playwright_missing or "ok"),
    pytest.mark.skipif(chromium_path() is None, reason="Chromium is not installed (apt-get install chromium)"),
]

TEXTS = [
    "Right level III lymph node with cystic change, suspicious for metastasis.",
    "No abnormal cervical lymph nodes. Level II nodes with preserved fatty hilum.",
    "Left level IV node, metastasis cannot be excluded.",
    "右侧颈部III区淋巴结，皮髓质分界不清，考虑转移。",
    "左侧颈部未见明显肿大淋巴结。",
    'Level II node <script>alert("x")</script>" onload="steal() </mark> reactive.',
]
GOLD = ["malignant", "benign", "malignant", "malignant", "benign", "benign"]


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    """120 reports (more than one page of 50) with a gold column, classified to CSV."""
    folder = tmp_path_factory.mktemp("browser")
    source = folder / "reports.csv"
    n = 120
    pd.DataFrame({"id": [f"N{i:03d}" for i in range(n)], "report_text": [TEXTS[i % len(TEXTS)] for i in range(n)],
                  "gold": [GOLD[i % len(GOLD)] for i in range(n)]}).to_csv(source, index=False)
    out = folder / "reports.classified.csv"
    assert main(["classify", str(source), "--out", str(out), "--quiet"]) == 0
    results = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(results["gold"]) == [GOLD[i % len(GOLD)] for i in range(n)]  # kept by classify
    return source, out, results


@pytest.fixture(scope="module")
def page_path(classified):
    out = classified[1].with_name("review.html")
    assert main(["review", str(classified[1]), "--gold-col", "gold", "--out", str(out)]) == 0
    return out


@pytest.fixture()
def page(page_path):
    from reportmine.benchmarks.review_page import browser_page

    with browser_page(downloads=True) as p:
        p.goto(page_path.resolve().as_uri(), wait_until="load")
        p.wait_for_function("document.body.classList.contains('js')")
        yield p
        assert p.errors == [], p.errors


def _visible_ids(page) -> list[str]:
    return page.eval_on_selector_all("#reports > article:not([hidden])", "els => els.map(e => e.dataset.id)")


def _all_matching(page, predicate: str) -> list[str]:
    """Every page of the current filter (walks the pager)."""
    seen = []
    while True:
        seen.extend(_visible_ids(page))
        info = page.locator(".pageinfo").first.text_content()
        if "page" not in info:
            return seen
        current, total = info.split("(")[0].replace("page", "").split("of")
        if int(current) >= int(total):
            return seen
        page.locator("[data-page='1']").first.click()


def test_loads_without_console_errors_and_pages(page, classified):
    results = classified[2]
    assert page.errors == []
    assert _visible_ids(page) == list(results["id"][:50])
    page.locator("[data-page='1']").first.click()
    assert _visible_ids(page) == list(results["id"][50:100])
    assert page.locator("#status").text_content().startswith("120 of 120")
    # the hostile report is text, and no script of it ran
    assert page.evaluate("typeof window.steal") == "undefined"
    assert page.locator("article[data-id='N005'] .tx").text_content() == TEXTS[5]


def test_filters_show_exactly_the_matching_reports(page, classified):
    results = classified[2]
    page.locator("[data-filter-label='indeterminate']").click()
    want = list(results.loc[results["label"] == "indeterminate", "id"])
    assert want and _all_matching(page, "") == want
    page.locator("[data-filter-label='']").click()
    page.select_option("#f-lang", "zh")
    assert _all_matching(page, "") == list(results.loc[results["language"] == "zh", "id"])
    page.select_option("#f-lang", "")
    page.select_option("#f-rule", "R2")
    assert _all_matching(page, "") == list(results.loc[results["rule"] == "R2", "id"])
    page.select_option("#f-rule", "")
    page.select_option("#f-review", "gold")
    disagree = list(results.loc[(results["gold"] != results["label_3class"]), "id"])
    assert disagree and _all_matching(page, "") == disagree
    page.select_option("#f-review", "")
    page.fill("#f-text", "淋巴结")
    page.wait_for_timeout(400)
    assert _all_matching(page, "") == [i for i, t in zip(results["id"], results["text"]) if "淋巴结" in t]


def test_disagreement_link_shows_its_report(page, classified):
    results = classified[2]
    last = list(results.loc[results["gold"] != results["label_3class"], "id"])[-1]
    page.locator("#disagreements a", has_text=last).click()
    assert last in _visible_ids(page)
    assert page.locator("article.cur").get_attribute("data-id") == last


def test_cue_scope_on_focus(page):
    cue = page.locator("article[data-id='N001'] mark[data-cue='negation']").first
    cue.focus()
    assert "No abnormal" in page.locator("article[data-id='N001'] .scope").text_content()
    assert page.evaluate("CSS.highlights.has('cue-scope') && CSS.highlights.get('cue-scope').size === 1")
    page.locator("article[data-id='N000']").click()
    assert page.locator("article[data-id='N001'] .scope").text_content() == ""


def test_corrections_download_and_apply(page, classified, tmp_path):
    source, out, results = classified
    # keyboard: j twice selects N001, 3 sets indeterminate; click sets N002 malignant with a note
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("3")
    page.locator("article[data-id='N002'] button[data-set='malignant']").click()
    page.locator("article[data-id='N002'] .fix input").fill('=cmd, "quoted"')
    page.locator("article[data-id='N004'] button[data-set='benign']").click()  # agrees with the machine
    assert page.locator("#ncorr").text_content() == "3"
    with page.expect_download() as info:
        page.locator("#download").click()
    download = info.value
    assert download.suggested_filename == "corrections.csv"
    saved = tmp_path / "corrections.csv"
    download.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["id", "label", "note", "reviewer_label_time"]
    assert [(r["id"], r["label"], r["note"]) for r in rows] == [
        ("N001", "indeterminate", ""), ("N002", "malignant", "'=cmd, \"quoted\""), ("N004", "benign", "")]
    for r in rows:
        assert datetime.fromisoformat(r["reviewer_label_time"].replace("Z", "+00:00")).tzinfo is not None
    # applied: exactly those labels change, the machine label is kept
    fixed = tmp_path / "fixed.csv"
    assert main(["classify", str(source), "--out", str(fixed), "--quiet", "--overrides", str(saved)]) == 0
    after = pd.read_csv(fixed, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    wanted = {"N001": "indeterminate", "N002": "malignant", "N004": "benign"}
    assert list(after["machine_label"]) == list(results["label"])
    assert list(after["label"]) == [wanted.get(i, lab) for i, lab in zip(results["id"], results["label"])]
    assert after.set_index("id").at["N002", "reviewer_note"] == "'=cmd, \"quoted\""  # escaped in the file
    changed = sum(wanted[i] != results.set_index("id").at[i, "label"] for i in wanted)
    import json

    record = json.loads(fixed.with_suffix(".run.json").read_text(encoding="utf-8"))["overrides"]
    assert record["labels_overridden"] == changed and record["reviewed"] == 3


def test_corrections_survive_a_reload(page):
    page.locator("article[data-id='N003'] button[data-set='benign']").click()
    page.reload(wait_until="load")
    page.wait_for_function("document.body.classList.contains('js')")
    assert page.locator("#ncorr").text_content() != "0"
    assert page.locator("article[data-id='N003']").get_attribute("data-reviewed") == "benign"


def test_benchmark_script_smoke(tmp_path):
    """The page benchmark runs end to end on a small size: a table row, no console errors,
    and the filter showed the reports that need review (up to a page)."""
    import json

    from reportmine.benchmarks.review_page import main as bench

    out = tmp_path / "bench.md"
    assert bench(["--sizes", "24", "--out", str(out), "--workdir", str(tmp_path)]) == 0
    row = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))[0]
    assert row["reports"] == 24 and row["page_mb"] > 0 and row["console_errors"] == []
    assert row["fcp_ms"] is not None and row["ready_wall_ms"] > 0
    assert 0 < row["shown_after_filter"] <= 24
    assert "| 24 |" in out.read_text(encoding="utf-8")


def test_keyboard_moves_across_pages(page, classified):
    results = classified[2]
    for _ in range(51):
        page.keyboard.press("j")
    assert page.locator("article.cur").get_attribute("data-id") == results["id"][50]
    assert _visible_ids(page) == list(results["id"][50:100])
    page.keyboard.press("k")
    assert page.locator("article.cur").get_attribute("data-id") == results["id"][49]
    assert _visible_ids(page) == list(results["id"][:50])
    page.keyboard.press("2")
    assert page.locator("article.cur").get_attribute("data-reviewed") == "benign"
    page.keyboard.press("x")
    assert page.locator("article.cur").get_attribute("data-reviewed") is None
    assert page.locator("#ncorr").text_content() == "0"
