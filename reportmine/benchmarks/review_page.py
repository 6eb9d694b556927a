"""Size of the review page and its time to first render in headless Chromium.

    python -m reportmine.benchmarks.review_page [--sizes 1000,10000] [--out reports/review/benchmark.md]
    python -m reportmine.benchmarks.review_page --screenshot reports/review/screenshot.png

For each size N it writes N reports (the shipped example reports, cycled, with unique ids and
a gold column), classifies them with ``reportmine classify``, writes the page with
``reportmine review --gold-col gold`` and opens it in Chromium through Playwright (the
system's ``chromium``; no browser download). It reports the page size, the seconds to build
it, first contentful paint, the time until the page's script has run (the page is usable),
and the time to apply the "needs review" filter. Goal: first render under 2 s for 10,000.

``--screenshot PNG`` instead classifies the shipped example reports, writes their page and
saves a screenshot of it with the "needs review" filter applied (reports/review/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "example_reports.xlsx"


def chromium_path() -> str | None:
    """The system's Chromium (Debian: /usr/bin/chromium), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900, downloads: bool = False):
    """A Playwright page in headless system Chromium; console errors collected in ``page.errors``."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium not found (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=downloads)
            page = context.new_page()
            page.errors = []
            page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            yield page
        finally:
            browser.close()


def write_reports(path: Path, n: int) -> None:
    """N reports cycling the shipped examples, with unique ids and the examples' gold label."""
    import pandas as pd

    examples = pd.read_excel(EXAMPLES, dtype=str).fillna("")
    gold_col = next((c for c in ("reference_label", "expected_label", "label", "gold") if c in examples.columns), None)
    rows = []
    for i in range(n):
        e = examples.iloc[i % len(examples)]
        rows.append({"id": f"R{i:06d}", "report_text": e["report_text"],
                     "gold": e[gold_col] if gold_col else ""})
    pd.DataFrame(rows).to_csv(path, index=False)


def measure(page_path: Path) -> dict:
    """First contentful paint, script-ready time and filter time of one page (milliseconds)."""
    with browser_page() as page:
        started = time.perf_counter()
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        page.wait_for_function("document.body.classList.contains('js')")
        wall = 1000 * (time.perf_counter() - started)
        # Paint entries are queued after the frame is shown, possibly after `load`: wait for
        # the entry (buffered observer) rather than reading the list once.
        timing = page.evaluate("""() => new Promise(resolve => {
            const nav = performance.getEntriesByType('navigation')[0];
            const done = fcp => resolve({fcp_ms: fcp ? fcp.startTime : null,
                dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd});
            const seen = performance.getEntriesByName('first-contentful-paint')[0];
            if (seen) { done(seen); return; }
            new PerformanceObserver(list => {
                const fcp = list.getEntriesByName('first-contentful-paint')[0];
                if (fcp) done(fcp);
            }).observe({type: 'paint', buffered: true});
            setTimeout(() => done(null), 5000);
        })""")
        filter_ms = page.evaluate("""() => {
            const t0 = performance.now();
            const s = document.getElementById('f-review'); s.value = 'any';
            s.dispatchEvent(new Event('change'));
            document.body.getBoundingClientRect();
            return performance.now() - t0;
        }""")
        shown = page.locator("#reports > article:not([hidden])").count()
        return {**timing, "ready_wall_ms": wall, "filter_ms": filter_ms, "shown_after_filter": shown,
                "console_errors": list(page.errors)}


def run_size(n: int, work: Path) -> dict:
    from reportmine.mining.batch import classify_file
    from reportmine.review import write_review

    src, classified, html = work / f"in-{n}.csv", work / f"out-{n}.csv", work / f"review-{n}.html"
    write_reports(src, n)
    classify_file(src, classified)
    started = time.perf_counter()
    page = write_review(classified, html, gold_col="gold" if _has_gold(classified) else None)
    build = time.perf_counter() - started
    return {"reports": n, "page_mb": page.size_bytes / 1e6, "build_s": build, **measure(html)}


def _has_gold(path: Path, column: str = "gold") -> bool:
    import pandas as pd

    if path.suffix.lower() == ".csv":
        return column in pd.read_csv(path, nrows=0).columns
    return column in pd.read_excel(path, sheet_name="results", nrows=0).columns


def screenshot(png: Path, *, width: int = 1280, height: int = 1500) -> Path:
    """Classify the shipped examples, write their page beside ``png`` and screenshot it."""
    from reportmine.mining.batch import classify_file
    from reportmine.review import write_review

    png.parent.mkdir(parents=True, exist_ok=True)
    classified = png.with_name("example_reports.classified.xlsx")
    try:  # a relative input path keeps the committed run record free of this machine's folders
        source = EXAMPLES.relative_to(Path.cwd())
    except ValueError:
        source = EXAMPLES
    classify_file(source, classified)
    html = png.with_name("example_reports.review.html")
    gold = "reference_label" if _has_gold(classified, "reference_label") else None
    write_review(classified, html, gold_col=gold,
                 title="Review: shipped example reports (reportmine/data/example_reports.xlsx)")
    with browser_page(width, height) as page:
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.select_option("#f-review", "any")
        page.keyboard.press("j")
        cue = page.locator("#reports > article:not([hidden]) mark[data-cue=negation]").first
        if cue.count():
            cue.hover()
        page.screenshot(path=str(png), full_page=False)
        if page.errors:
            raise RuntimeError("console errors: " + "; ".join(page.errors))
    return html


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated report counts")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) and JSON here")
    parser.add_argument("--workdir", type=Path, help="folder for the generated files (default: a temporary one)")
    parser.add_argument("--screenshot", type=Path, help="write the example reports' page and this screenshot")
    args = parser.parse_args(argv)
    if args.screenshot:
        html = screenshot(args.screenshot)
        print(f"written: {html}, {args.screenshot}")
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in sizes:
            rows.append(run_size(n, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr)
    table = ["| reports | page MB | build s | first contentful paint ms | script ready ms | "
             "'needs review' filter ms | console errors |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        fcp = "—" if r["fcp_ms"] is None else f"{r['fcp_ms']:.0f}"
        table.append(f"| {r['reports']} | {r['page_mb']:.1f} | {r['build_s']:.1f} | {fcp} | "
                     f"{r['ready_wall_ms']:.0f} | {r['filter_ms']:.0f} | {len(r['console_errors'])} |")
    text = "\n".join(table)
    print(text)
    if args.out:
        from reportmine.core.outputs import write_json_atomic, write_text_atomic

        write_text_atomic(args.out, text + "\n")
        write_json_atomic(args.out.with_suffix(".json"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
