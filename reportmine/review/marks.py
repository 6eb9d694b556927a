"""Place the evidence, the cues and their scope on one report's text.

The findings come from the classify output's evidence rows (what decided the label). The
cues (negation, hedge, pseudo-negation, terminator), node and thyroid words and the node
statements are not in that sheet, so the report is read again with the classifier that
produced the output (same dictionary and options, from its run record): each negation or
hedge cue then knows the findings it covers, which is its scope on the page.

The result is a flat list of tokens (open an element, text, close) that the template turns
into nested ``<span>`` / ``<mark>`` elements; every piece of text and every attribute value
goes through the template's autoescaping.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ..mining.matching import split_groups

log = logging.getLogger(__name__)

CUE_KINDS = {"negation_pre": "negation", "negation_post": "negation", "hedge_leaning": "hedge",
             "hedge_equivocal": "hedge", "pseudo": "pseudo", "terminator": "terminator"}
ANCHOR_CATEGORIES = ("node_anchor", "neck_region", "thyroid_context")
NODE_WORDS = ("node_anchor", "neck_region")
#: Fuzzy matches scoring below this are listed as "needs review".
FUZZY_REVIEW_BELOW = 95.0
#: A thyroid-scope finding this close (characters) to a node word is listed as "needs review".
NEAR_NODE_CHARS = 30
#: Element nesting order, outermost first.
_RANK = {"statement": 0, "finding": 1, "cue": 2, "anchor": 3}

REVIEW_REASONS = {
    "hedged": "rests on a hedge",
    "indeterminate": "indeterminate",
    "fuzzy": "low fuzzy score",
    "thyroid-near-node": "thyroid finding near node words",
    "gold": "disagrees with gold",
    "reread": "re-reading gives another label",
}


@dataclass(frozen=True)
class Span:
    """One element to draw over ``text[start:end]``: kind, tag and (name, value) attributes."""

    start: int
    end: int
    kind: str  # statement | finding | cue | anchor
    attrs: tuple[tuple[str, str], ...] = ()

    @property
    def tag(self) -> str:
        return "span" if self.kind == "statement" else "mark"


@dataclass(frozen=True)
class Token:
    kind: str  # "open", "text" or "close"
    tag: str = ""
    text: str = ""
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReportMarks:
    spans: tuple[Span, ...]
    tokens: tuple[Token, ...]
    reasons: tuple[str, ...] = ()  # keys of REVIEW_REASONS
    reread_label: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return "\u2018" + (text if len(text) <= limit else text[: limit - 1] + "\u2026") + "\u2019"


_CONTEXT_WORDS = {"historical": "past history", "hypothetical": "a possibility or plan",
                  "other": "about a relative, not the patient", "background": "background"}


def finding_spans(text: str, evidence: list[dict]) -> list[Span]:
    """One span per evidence row (``row`` is its row in the evidence sheet)."""
    spans = []
    for ev in evidence:
        start, end = int(ev["start"]), int(ev["end"])
        parts = [f"{ev.get('entry') or ev['matched_text']} ({ev['category']})"]
        if str(ev.get("match", "")) == "fuzzy" and _score(ev) < 100:
            parts.append(f"fuzzy score {ev.get('score', '')}")
        if ev.get("scope"):
            parts.append(f"scope {ev['scope']}")
        if ev.get("negation_cue"):
            parts.append(f"negated by {_quote(str(ev['negation_cue']))}")
        if ev.get("hedge_cue"):
            parts.append(f"hedged by {_quote(str(ev['hedge_cue']))}")
        if ev.get("context_cue"):  # a past, hypothetical or someone else's statement never decides
            parts.append(f"{_CONTEXT_WORDS.get(str(ev.get('context')), 'background')}: "
                         f"{_quote(str(ev['context_cue']))}, does not decide the label")
        if ev.get("polarity"):
            parts.append(f"counts as {ev['polarity']}")
        if ev.get("dictionary_line"):
            parts.append(str(ev["dictionary_line"]))
        attrs = [("data-category", str(ev["category"])), ("data-ev", str(ev["row"])), ("title", "; ".join(parts))]
        if _truthy(ev.get("negated", "")):
            attrs.append(("data-negated", "1"))
        if _truthy(ev.get("hedged", "")):
            attrs.append(("data-hedged", "1"))
        spans.append(Span(start, end, "finding", tuple(attrs)))
    return spans


def _cue_span(start: int, end: int, category: str, covered: list[tuple[int, int]]) -> Span:
    """A cue; ``data-span`` is its scope (the page shows and highlights it on hover or focus)."""
    lo = min([start] + [a for a, _ in covered])
    hi = max([end] + [b for _, b in covered])
    kind = CUE_KINDS[category]
    if covered:
        title = f"{kind} cue ({category})"
    elif kind == "pseudo":
        title = f"pseudo-negation ({category}): looks like a negation but negates nothing"
    elif kind == "terminator":
        title = f"terminator ({category}): a negation's scope stops here"
    else:
        title = f"{kind} cue ({category}); covers no finding here"
    return Span(start, end, "cue", (("data-cue", kind), ("data-cue-category", category),
                                    ("data-span", f"{lo}-{hi}"), ("tabindex", "0"), ("title", title)))


def context_spans(text: str, result, matches) -> tuple[list[Span], list[Span], list[Span]]:
    """(cues, node/thyroid words, node statements) from a re-read ``ReportResult`` and the
    dictionary matches of the whole text."""
    covered: dict[tuple[int, int, str], list[tuple[int, int]]] = {}
    for f in result.findings:
        for cue in (f.negated_by, f.hedged_by):
            if cue is not None:
                covered.setdefault((cue.start, cue.end, cue.category), []).append((f.match.start, f.match.end))
    statements = []
    for d in result.statements:
        s = d.statement
        for cue in s.equivocal:
            covered.setdefault((cue.start, cue.end, cue.category), []).append((s.start, s.end))
        statements.append((s.start, s.end, d))
    for m in matches:
        if m.category in CUE_KINDS:
            covered.setdefault((m.start, m.end, m.category), [])
    cues = [_cue_span(start, end, category, spans) for (start, end, category), spans in sorted(covered.items())
            if category in CUE_KINDS]
    anchors = [Span(m.start, m.end, "anchor", (("data-category", m.category),))
               for m in matches if m.category in ANCHOR_CATEGORIES]
    statement_spans = [Span(start, end, "statement", (("class", "st"),
                                                      ("title", f"node statement: {d.label or 'no decision'} ({d.rule})")))
                       for start, end, d in statements]
    return cues, anchors, statement_spans


def deciding_span(text: str, deciding: str, statements: list[Span]) -> Span | None:
    """The deciding statement: the re-read statement with that text, else found in the text."""
    deciding = (deciding or "").strip()
    if not deciding:
        return None
    for s in statements:
        if text[s.start:s.end].strip() == deciding:
            return s
    at = text.find(deciding)
    if at < 0:
        return None
    return Span(at, at + len(deciding), "statement", (("class", "st"),))


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def tokens_for(text: str, spans: list[Span]) -> tuple[Token, ...]:
    """Nested open/text/close tokens; an element that crosses another's edge is split in two."""
    spans = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    bounds = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    tokens: list[Token] = []
    open_stack: list[Span] = []
    for lo, hi in zip(bounds, bounds[1:]):
        active = sorted((s for s in spans if s.start <= lo and hi <= s.end),
                        key=lambda s: (_RANK[s.kind], s.start, -s.end))
        keep = 0
        while keep < len(open_stack) and keep < len(active) and open_stack[keep] is active[keep]:
            keep += 1
        for s in reversed(open_stack[keep:]):
            tokens.append(Token("close", s.tag))
        del open_stack[keep:]
        for s in active[keep:]:
            tokens.append(Token("open", s.tag, attrs=s.attrs))
            open_stack.append(s)
        tokens.append(Token("text", text=text[lo:hi]))
    for s in reversed(open_stack):
        tokens.append(Token("close", s.tag))
    return tuple(tokens)


def rests_on_hedge(rule: str, evidence: list[dict], result=None) -> bool:
    """An equivocal hedge decided (rule R2), or every finding that decided is hedged.

    "Consistent with metastasis" beside an unhedged cystic change is not doubtful; a label
    that rests on "suspicious for metastasis" alone is. Without a re-read result, any hedged
    evidence row counts."""
    if rule.startswith("R2"):
        return True
    if result is None:
        return any(_truthy(ev.get("hedged", "")) for ev in evidence)
    decision = next((d for d in result.statements if d.label == result.label_3class), None)
    deciding = [f for f in (decision.deciding if decision else ()) if hasattr(f, "hedged_by")]
    return bool(deciding) and all(f.hedged_by is not None for f in deciding)


def _score(ev: dict) -> float:
    try:
        return float(ev.get("score", 100) or 100)
    except ValueError:
        return 100.0


_SENTENCE_END = re.compile(r"[。！？!?;；\n]|\.(?!\d)")


def _near(text: str, start: int, end: int, anchor: Span) -> bool:
    """Within NEAR_NODE_CHARS characters of the node word, in the same sentence."""
    lo, hi = (end, anchor.start) if end <= anchor.start else (anchor.end, start)
    if hi - lo > NEAR_NODE_CHARS:
        return False
    return _SENTENCE_END.search(text, lo, max(lo, hi)) is None


def review_reasons(text: str, label3: str, rule: str, evidence: list[dict], anchors: list[Span],
                   gold: str | None, reread_label: str, label: str, result=None) -> tuple[str, ...]:
    reasons = []
    if rests_on_hedge(rule, evidence, result):
        reasons.append("hedged")
    if label3 == "indeterminate":
        reasons.append("indeterminate")
    if any(str(ev.get("match", "")) == "fuzzy" and _score(ev) < FUZZY_REVIEW_BELOW for ev in evidence):
        reasons.append("fuzzy")
    nodes = [a for a in anchors if dict(a.attrs).get("data-category") in NODE_WORDS]
    if any(str(ev.get("scope", "")) == "thyroid" and _near(text, int(ev["start"]), int(ev["end"]), a)
           for ev in evidence for a in nodes):
        reasons.append("thyroid-near-node")
    if gold and gold != label3:
        reasons.append("gold")
    if reread_label and reread_label != label:
        reasons.append("reread")
    return tuple(reasons)


def mark_report(text: str, evidence: list[dict], *, label: str, label3: str, rule: str,
                deciding: str, gold: str | None, classifier=None, language: str = "",
                compare_label: bool = True) -> ReportMarks:
    """Everything drawn on one report, and why it may need review."""
    findings = finding_spans(text, evidence)
    cues: list[Span] = []
    anchors: list[Span] = []
    statements: list[Span] = []
    reread = ""
    notes = []
    result = None
    if classifier is not None and text.strip():
        result = classifier.classify(text)
        reread = result.label
        matches = dictionary_matches(classifier, result.language or language, text)
        cues, anchors, statements = context_spans(text, result, matches)
        if not compare_label:
            reread = ""
        elif reread != label:
            notes.append(f"read again with the recorded dictionary this report is {reread}, "
                         f"not {label}: the dictionary or options changed since it was classified")
    anchors = [a for a in anchors if not any(_overlaps(a, f) for f in findings)]
    decide = deciding_span(text, deciding, statements)
    shown = [s for s in statements if decide is None or (s.start, s.end) != (decide.start, decide.end)]
    if decide is not None:
        shown.append(Span(decide.start, decide.end, "statement", (("class", "st decide"),)))
    # A statement wrapper is cosmetic: drop one that a mark would cross.
    marks = findings + cues + anchors
    shown = [s for s in shown if not any(_overlaps(s, m) and not (s.start <= m.start and m.end <= s.end)
                                         for m in marks)]
    spans = shown + marks
    reasons = review_reasons(text, label3, rule, evidence, anchors, gold, reread, label,
                             result if result is not None and result.label == label else None)
    return ReportMarks(tuple(spans), tokens_for(text, spans), reasons, reread, tuple(notes))


def dictionary_matches(classifier, language: str, text: str) -> list:
    """Every dictionary match in ``text`` (overlaps resolved within the scope and cue groups),
    with the matcher of each language the classifier reads (a mixed report is read in both)."""
    reader = classifier.reader(classifier.language)
    matchers = getattr(reader, "matchers", None) or {reader.language: reader.matcher}
    if language in matchers and classifier.language != "auto":
        matchers = {language: matchers[language]}
    found = [m for matcher in matchers.values() for m in matcher.find(text)]
    scope, other = split_groups(found)
    return scope + other
