"""Build and write the review page: one self-contained HTML file, no external resources.

Why the reports are rendered on the server (here, by jinja2) and not from embedded JSON by
JavaScript: the markup contract (one element per report with ``data-id`` / ``data-label``,
a ``<mark>`` per evidence span and cue) then holds in the file itself, so tests, scripts and
a reader with JavaScript off all see the same marked text, and every piece of untrusted
report text is escaped in one place, by the template's autoescaping, never by hand-written
JavaScript. Responsiveness with 10,000 reports comes from paging in the browser: only one
page of reports is displayed (the rest are ``hidden``, and hidden by CSS before the script
runs), so layout and paint cost one page; filters and search only toggle attributes.
The page's small JSON block (labels, review reasons, the key for saved corrections) is
escaped so that no ``<`` can end its ``<script>`` element.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from markupsafe import Markup

from ..core.errors import InputError
from ..core.labels import REPORT_LABELS
from ..core.outputs import check_targets, write_text_atomic
from ..core.provenance import file_sha256, versions
from ..mining.classify import ReportClassifier
from ..mining.dictionary import DictionaryError
from .marks import REVIEW_REASONS, mark_report
from .source import ClassifyOutput, read_classify_output

log = logging.getLogger(__name__)

PAGE_SIZE = 50
CATEGORY_NAMES = {
    "malignant_finding": "malignant finding", "suspicious_feature": "suspicious feature",
    "benign_finding": "benign finding", "indeterminate_feature": "indeterminate feature",
    "hilum_present": "hilum present", "hilum_absent": "hilum absent", "hilum_unclear": "hilum unclear",
    "hypervascularity": "hypervascularity", "node_anchor": "node word", "neck_region": "neck region",
    "thyroid_context": "thyroid context",
}
CUE_NAMES = {"negation": "negation cue", "hedge": "hedge cue", "pseudo": "pseudo-negation",
             "terminator": "terminator"}


@dataclass(frozen=True)
class ReportView:
    index: int
    id: str
    row: int
    label: str
    label3: str
    rule: str
    reason: str
    language: str
    flags: str
    gold: str | None
    reasons: tuple[str, ...]
    tokens: tuple
    notes: tuple[str, ...] = ()
    machine: str = ""  # the machine's label where a reviewer's correction replaced it


@dataclass(frozen=True)
class ReviewPage:
    """What the page shows; :meth:`summary` is what the CLI prints."""

    source: str
    reports: tuple[ReportView, ...]
    labels: dict[str, int]
    rules: dict[str, int]
    languages: dict[str, int]
    reasons: dict[str, int]
    gold_col: str | None = None
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # gold -> machine -> n
    disagreements: tuple[ReportView, ...] = ()
    notes: tuple[str, ...] = ()
    out: str = ""
    size_bytes: int = 0

    def summary(self) -> str:
        lines = [f"{len(self.reports)} reports from {self.source}"
                 + (f" written to {self.out} ({self.size_bytes / 1e6:.1f} MB)" if self.out else "")]
        lines.append("  labels: " + ", ".join(f"{k} {v}" for k, v in self.labels.items()))
        needing = sum(1 for r in self.reports if r.reasons)
        lines.append(f"  needs review: {needing}"
                     + "".join(f"; {REVIEW_REASONS[k]} {v}" for k, v in self.reasons.items() if v))
        if self.gold_col:
            lines.append(f"  gold column {self.gold_col!r}: {len(self.disagreements)} disagreement(s)")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def recorded_classifier(output: ClassifyOutput):
    """The classifier that produced ``output`` (dictionary and options from its run record),
    and a note when that cannot be rebuilt exactly."""
    record = output.record
    options = {"language": record.get("config.language") or "auto",
               "hedge_as": record.get("config.hedge_as") or "indeterminate",
               "two_class": record.get("config.two_class") or None}
    paths = [p for p in (record.get("config.dictionary") or "").split(";") if p]
    note = ""
    if not record:
        note = ("the file does not say which dictionary labelled these reports, so the words "
                "highlighted are those of the standard dictionary that comes with reportmine")
    elif paths and not all(Path(p).exists() for p in paths):
        note = ("the dictionary that labelled these reports is not available here, so the words "
                "highlighted are those of the standard dictionary that comes with reportmine")
        paths = []
    dictionary = paths[0] if len(paths) == 1 else None
    if len(paths) > 1:
        common = Path(paths[0]).parent
        dictionary = str(common) if all(Path(p).parent == common for p in paths) else None
    try:
        return ReportClassifier(dictionary=dictionary, **options), note
    except (DictionaryError, ValueError) as exc:
        return ReportClassifier(), (f"the settings that labelled these reports cannot be reused ({exc}), so "
                                    "the words highlighted are those of the standard dictionary")


def build_review(output: ClassifyOutput, *, classifier=None) -> ReviewPage:
    """Mark every report of a classify output and gather the page's counts."""
    notes = []
    if classifier is None:
        classifier, note = recorded_classifier(output)
        if note:
            notes.append(note)
    results, evidence = output.results, output.evidence
    join_on_row = "row" in results.columns and "row" in evidence.columns
    key = "row" if join_on_row else "id"
    groups: dict[str, list[dict]] = {}
    for ev_row, ev in zip(evidence.index, evidence.to_dict("records")):
        groups.setdefault(str(ev[key]).strip(), []).append(ev | {"row": ev_row})
    views = []
    for index, (row, r) in enumerate(zip(results.index, results.to_dict("records"))):
        text = str(r["text"])
        ev = groups.get(str(r[key]).strip(), [])
        ev = [_placed(e, text, output.evidence_path, r["id"]) for e in ev]
        label = str(r["label"]).strip().lower()
        label3 = str(r.get("label_3class") or label).strip().lower()
        flags = str(r.get("flags", ""))
        gold = output.gold.get(row)
        machine = str(r.get("machine_label") or label).strip().lower()  # after classify --overrides
        marks = mark_report(text, ev, label=machine, label3=label3, rule=str(r.get("rule", "")),
                            deciding=str(r.get("deciding_statement", "")), gold=gold, classifier=classifier,
                            language=str(r.get("language", "")),
                            compare_label="target-node" not in flags)
        views.append(ReportView(index, str(r["id"]), int(row), label, label3, str(r.get("rule", "")),
                                str(r.get("reason", "")), str(r.get("language", "")), flags, gold,
                                marks.reasons, marks.tokens, marks.notes, machine))
    confusion, disagreements = {}, ()
    if output.gold_col:
        present = set(output.gold.values())
        confusion = {g: {m: 0 for m in REPORT_LABELS} for g in REPORT_LABELS
                     if g in present or g != "indeterminate"}
        for v in views:
            if v.gold is not None:
                confusion[v.gold][v.label3 if v.label3 in REPORT_LABELS else "indeterminate"] += 1
        disagreements = tuple(v for v in views if "gold" in v.reasons)
    labels = Counter(v.label for v in views)
    return ReviewPage(
        source=str(output.path), reports=tuple(views),
        labels={k: labels[k] for k in [*REPORT_LABELS, *sorted(set(labels) - set(REPORT_LABELS))] if labels[k]},
        rules=dict(sorted(Counter(v.rule for v in views).items())),
        languages=dict(sorted(Counter(v.language or "none" for v in views).items())),
        reasons={k: sum(1 for v in views if k in v.reasons) for k in REVIEW_REASONS},
        gold_col=output.gold_col, confusion=confusion, disagreements=disagreements, notes=tuple(notes))


def _placed(ev: dict, text: str, where: Path, report_id) -> dict:
    """The evidence row with offsets into ``text`` as read.

    A workbook stores a line break ``\\r\\n`` as ``\\n`` (XML normalises line ends), while
    the offsets were counted on the original text: they are mapped back. Anything else that
    does not point at the matched text is an error (evidence from another run)."""
    start, end, wanted = ev["start"], ev["end"], ev["matched_text"]
    if text[start:end] == wanted:
        return ev
    if "\n" in text:
        original = text.replace("\r\n", "\n").replace("\n", "\r\n")
        if original[start:end].replace("\r\n", "\n") == wanted.replace("\r\n", "\n"):
            start -= original[:start].count("\r")
            end -= original[:end].count("\r")
            if text[start:end] == wanted.replace("\r\n", "\n"):
                return ev | {"start": start, "end": end, "matched_text": text[start:end]}
    raise InputError(f"{where}: row {ev['row']}, column matched_text: {wanted!r} is not at {ev['start']}:"
                     f"{ev['end']} of report {report_id!r}'s text (evidence from another classify run?)")


def _json_block(payload) -> Markup:
    """JSON safe inside <script type="application/json">: no < > & can end the element."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_review(page: ReviewPage, *, title: str = "Report labels for review",
                  source_sha256: str = "") -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("reportmine.review", "templates"),
                      autoescape=select_autoescape(default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    storage_key = "reportmine-review:" + hashlib.sha256(
        (source_sha256 or page.source).encode("utf-8")).hexdigest()[:16]
    meta = {"labels": list(REPORT_LABELS), "reasons": REVIEW_REASONS, "storage_key": storage_key,
            "page_size": PAGE_SIZE, "source": page.source, "source_sha256": source_sha256,
            "n_reports": len(page.reports), "gold": bool(page.gold_col)}
    return env.get_template("review.html.j2").render(
        page=page, title=title, meta=_json_block(meta), created=created, versions=versions(("reportmine",)),
        source_sha256=source_sha256, reason_names=REVIEW_REASONS, category_names=CATEGORY_NAMES,
        cue_names=CUE_NAMES, labels=REPORT_LABELS, page_size=PAGE_SIZE)


def write_review(path: str | Path, out: str | Path | None = None, *, gold_col: str | None = None,
                 limit: int | None = None, title: str | None = None) -> ReviewPage:
    """Read a classify output and write its review page (default: NAME.review.html beside it)."""
    path = Path(path)
    out = Path(out) if out is not None else path.with_name(f"{path.stem}.review.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{out}: the review page must end in .html")
    output = read_classify_output(path, gold_col=gold_col, limit=limit)
    check_targets([out], [path, output.evidence_path])
    page = build_review(output)
    html = render_review(page, title=title or f"Review: {path.name}", source_sha256=file_sha256(path))
    write_text_atomic(out, html)
    log.info("review page for %d reports written to %s", len(page.reports), out)
    return _with_output(page, out, len(html.encode("utf-8")))


def _with_output(page: ReviewPage, out: Path, size: int) -> ReviewPage:
    from dataclasses import replace

    return replace(page, out=str(out), size_bytes=size)
