"""The decision rule: findings per node statement → one label per report, with its evidence.

The rule is the one in LABELING_RULES.md (shared with the clinicians):

* a node statement is **malignant** if it affirms a malignant finding or an ETA-2017
  suspicious feature (or rich flow in a node whose hilum is absent), or calls the node
  enlarged (lymphadenopathy) without calling it reactive or normal, unless an equivocal
  hedge covers the statement;
* **indeterminate** if an equivocal hedge covers it (``hedge_as="malignant"`` counts it
  malignant instead), or if its indeterminate features (hilum absent / unclear, round,
  cortical thickening, plump) outnumber its benign ones (hilum present, normal, reactive);
* **benign** if it has benign findings, or only negated ones ("no abnormal nodes");
* the report is malignant if any statement is, else indeterminate if any is, else benign;
  nothing about nodes → indeterminate, reason "no node statement".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..core.labels import REPORT_LABELS
from .dictionary import Dictionary, load_dictionary
from .grammar import CJK, LEFT_WORDS, LEFT_ZH, RIGHT_WORDS, RIGHT_ZH
from .matching import ChineseMatcher, EnglishMatcher, Match
from .reader import PieceReader
from .statements import Finding, NodeStatement, analyse

LABELS = REPORT_LABELS
DEFAULT_MAX_CHARS = 20_000


_NOT_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())


def detect_language(text: str) -> str:
    """'zh' when Chinese characters make up at least a fifth of the letters, else 'en'."""
    if CJK.search(text) is None:
        return "en"
    cjk = len(CJK.findall(text))
    latin = len(text.encode("ascii", "ignore").translate(None, _NOT_LETTERS))
    return "zh" if cjk >= 0.2 * (cjk + latin) else "en"


@dataclass(frozen=True)
class StatementDecision:
    statement: NodeStatement
    label: str | None  # None: the statement says nothing decisive
    rule: str
    reason: str
    deciding: tuple[Finding | Match, ...] = ()


@dataclass(frozen=True)
class ReportResult:
    """One report's label with everything needed to audit it."""

    label: str
    rule: str
    reason: str
    language: str
    label_3class: str
    findings: tuple[Finding, ...] = ()
    statements: tuple[StatementDecision, ...] = ()
    flags: tuple[str, ...] = ()  # "empty", "truncated", "target-node"
    target: str = ""

    def summary(self) -> str:
        lines = [f"label: {self.label}  (rule {self.rule}: {self.reason})", f"language: {self.language}"]
        if self.flags:
            lines.append("flags: " + ", ".join(self.flags))
        if self.target:
            lines.append("target node: " + self.target)
        for d in self.statements:
            s = d.statement
            where = " ".join(x for x in (s.side, "level " + "/".join(s.levels) if s.levels else "") if x)
            lines.append(f"node statement {s.index} [{s.start}:{s.end}] {where or '(no side/level)'}"
                         f" -> {d.label or 'no decision'} ({d.rule}: {d.reason})")
            lines.append(f"    \u201c{s.text.strip()}\u201d")
        lines.append("evidence:")
        for f in self.findings:
            lines.append("  " + describe_finding(f))
        if not self.findings:
            lines.append("  (no dictionary term found)")
        return "\n".join(lines)


def describe_finding(f: Finding) -> str:
    m = f.match
    parts = [f"\u2018{m.text}\u2019 [{m.start}:{m.end}] = {m.entry.term} ({m.category}, {m.entry.source})"]
    if m.score < 100:
        parts.append(f"fuzzy {m.score:g}")
    parts.append(f"scope {f.scope}" + (f" #{f.statement}" if f.statement >= 0 else ""))
    if f.negated_by is not None:
        parts.append(f"negated by \u2018{f.negated_by.text}\u2019")
    if f.hedged_by is not None:
        parts.append(f"hedged by \u2018{f.hedged_by.text}\u2019")
    if f.context_by is not None:
        parts.append(f"{f.context} by \u2018{f.context_by.text}\u2019")
    parts.append(f"-> {f.polarity}")
    return "; ".join(parts)


def _quote(items) -> str:
    return ", ".join(f"\u2018{getattr(i, 'match', i).text}\u2019" for i in items)


def decide_statement(s: NodeStatement, hedge_as: str) -> StatementDecision:
    malignant = [f for f in s.findings if f.polarity == "malignant"]
    # lymphadenopathy is malignant unless the statement calls the node reactive or normal
    called_benign = [f for f in s.findings if f.polarity == "benign" and f.match.category == "benign_finding"]
    enlarged = [f for f in s.findings if f.polarity == "enlarged"]
    if not called_benign:
        malignant += enlarged
    absent = [f for f in s.findings if f.polarity == "hilum_absent"]
    vascular = [f for f in s.findings if f.polarity == "hypervascular"]
    if absent and vascular:
        malignant += vascular
    if s.equivocal:
        if hedge_as == "malignant":
            return StatementDecision(s, "malignant", "R2m", f"equivocal hedge {_quote(s.equivocal)} "
                                     "counted as malignant (--hedge-as malignant)", s.equivocal)
        return StatementDecision(s, "indeterminate", "R2", f"equivocal hedge {_quote(s.equivocal)}",
                                 s.equivocal)
    if malignant:
        kind = "suspicious feature" if all(f.match.category == "suspicious_feature" for f in malignant) \
            else "malignant finding"
        extra = " with absent hilum" if absent and vascular else ""
        return StatementDecision(s, "malignant", "R1", f"{kind} {_quote(malignant)}{extra}", tuple(malignant))
    indeterminate = {f.match.entry.term: f for f in s.findings if f.polarity in ("indeterminate", "hilum_absent")}
    benign = {f.match.entry.term: f for f in s.findings if f.polarity == "benign"}
    if len(indeterminate) > len(benign):
        return StatementDecision(s, "indeterminate", "R3",
                                 f"indeterminate feature(s) {_quote(indeterminate.values())}"
                                 + (f" outweigh benign {_quote(benign.values())}" if benign else ""),
                                 tuple(indeterminate.values()))
    if benign:
        also = f"; enlarged {_quote(enlarged)} called benign" if enlarged else ""
        return StatementDecision(s, "benign", "R4", f"benign finding(s) {_quote(benign.values())}{also}",
                                 tuple(benign.values()))
    negated = [f for f in s.findings if f.polarity == "negated"]
    if negated:
        return StatementDecision(s, "benign", "R5", f"negated finding(s) {_quote(negated)}", tuple(negated))
    return StatementDecision(s, None, "R0", "no decisive finding")


def _target_statements(decisions: list[StatementDecision], level: str, side: str) -> list[StatementDecision]:
    level = _normalise_level(level)
    side = _normalise_side(side)
    chosen = []
    for d in decisions:
        s = d.statement
        level_ok = not level or level in s.levels
        side_ok = not side or s.side in (side, "bilateral")
        if (level or side) and level_ok and side_ok and (s.levels or s.side):
            chosen.append(d)
    return chosen


def _normalise_level(level) -> str:
    text = "" if level is None or (isinstance(level, float) and math.isnan(level)) else str(level).strip()
    text = text.upper().replace("LEVEL", "").replace("区", "").strip()
    text = text.rstrip("AB") if text not in ("", "A", "B") else text
    arabic = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V", "6": "VI", "7": "VII"}
    return arabic.get(text, text)


def _normalise_side(side) -> str:
    text = "" if side is None or (isinstance(side, float) and math.isnan(side)) else str(side).strip().lower()
    if text in LEFT_WORDS or text in (LEFT_ZH, LEFT_ZH + "侧"):
        return "left"
    if text in RIGHT_WORDS or text in (RIGHT_ZH, RIGHT_ZH + "侧"):
        return "right"
    return ""


@dataclass
class ReportClassifier:
    """Configured classifier; build once, call :meth:`classify` for each report.

    ``language``: "auto" (each clause in the languages it is written in), "en" or "zh".
    ``hedge_as``: how equivocal hedges count ("indeterminate" or "malignant").
    ``two_class``: None for three classes, or "malignant" / "benign" to map indeterminate to
    that side (the paper's binary setting).
    """

    dictionary: Dictionary | str | Path | None = None
    language: str = "auto"
    hedge_as: str = "indeterminate"
    two_class: str | None = None
    max_chars: int = DEFAULT_MAX_CHARS
    _readers: dict = field(default_factory=dict, init=False, repr=False)
    _decisions: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.dictionary, Dictionary):
            self.dictionary = load_dictionary(self.dictionary)
        if self.language not in ("auto", "en", "zh"):
            raise ValueError(f"language must be auto, en or zh, got {self.language!r}")
        if self.hedge_as not in ("indeterminate", "malignant"):
            raise ValueError(f"hedge_as must be indeterminate or malignant, got {self.hedge_as!r}")
        if self.two_class not in (None, "malignant", "benign"):
            raise ValueError(f"two_class must be malignant or benign, got {self.two_class!r}")

    def reader(self, language: str = "auto") -> PieceReader:
        """The reader for "auto" (every clause in the languages it holds), "en" or "zh"."""
        if language not in self._readers:
            languages = ("en", "zh") if language == "auto" else (language,)
            matchers = {lang: self._matcher(lang) for lang in languages}
            digit_free = not any(ch.isdigit() for e in self.dictionary.entries for ch in e.term)
            self._readers[language] = PieceReader(matchers, language=language, fold_digits=digit_free)
        return self._readers[language]

    def _matcher(self, language: str):
        key = "matcher:" + language
        if key not in self._readers:
            entries = self.dictionary.for_language(language)
            self._readers[key] = EnglishMatcher(entries) if language == "en" else ChineseMatcher(entries)
        return self._readers[key]

    def _decide(self, statement: NodeStatement) -> StatementDecision:
        """:func:`decide_statement`, memoised on what the decision depends on."""
        key = (tuple((f.match.text, f.match.entry, f.polarity) for f in statement.findings),
               tuple((m.text, m.entry) for m in statement.equivocal))
        template = self._decisions.get(key)
        if template is None:
            d = decide_statement(statement, self.hedge_as)
            positions = {id(f): i for i, f in enumerate(statement.findings)}
            picks = tuple(positions.get(id(x), -1) for x in d.deciding)
            template = (d.label, d.rule, d.reason, picks if -1 not in picks else None)
            if len(self._decisions) >= 100_000:
                self._decisions.clear()
            self._decisions[key] = template
            return d
        label, rule, reason, picks = template
        deciding = statement.equivocal if picks is None else tuple(statement.findings[i] for i in picks)
        return StatementDecision(statement, label, rule, reason, deciding)

    def config(self) -> dict[str, object]:
        return {"language": self.language, "hedge_as": self.hedge_as, "two_class": self.two_class or "",
                "max_chars": self.max_chars, "dictionary": ";".join(self.dictionary.paths)}

    def _finish(self, label: str, rule: str, reason: str, language: str, **kw) -> ReportResult:
        final = label
        if self.two_class and label == "indeterminate":
            final = self.two_class
            reason = f"{reason}; indeterminate counted as {self.two_class} (--two-class)"
        return ReportResult(final, rule, reason, language, label, **kw)

    def classify(self, text, *, level=None, side=None) -> ReportResult:
        if not isinstance(text, str) or not text.strip():
            return self._finish("indeterminate", "E", "empty", "", flags=("empty",))
        flags: list[str] = []
        if len(text) > self.max_chars:
            text = text[: self.max_chars]
            flags.append("truncated")
        language = detect_language(text) if self.language == "auto" else self.language
        statements, findings = analyse(text, self.reader(self.language))
        decisions = [self._decide(s) for s in statements]
        target = ""
        used = [d for d in decisions if d.label is not None]
        if level is not None or side is not None:
            chosen = [d for d in _target_statements(decisions, level, side) if d.label is not None]
            wanted = " ".join(x for x in (_normalise_side(side), _normalise_level(level)) if x)
            if chosen:
                used = chosen
                flags.append("target-node")
                target = f"{wanted}: statement(s) {', '.join(str(d.statement.index) for d in chosen)} used"
            elif wanted:
                target = f"{wanted}: not named in the report; all node statements used"
        extra = dict(findings=tuple(findings), statements=tuple(decisions), flags=tuple(flags), target=target)
        for label in ("malignant", "indeterminate", "benign"):
            hits = [d for d in used if d.label == label]
            if hits:
                d = hits[0]
                where = f"node statement {d.statement.index}"
                return self._finish(label, d.rule, f"{d.reason} ({where})", language, **extra)
        return self._finish("indeterminate", "R0", "no node statement", language, **extra)


def classify_text(text: str, **options) -> ReportResult:
    """Classify one report with a fresh :class:`ReportClassifier` (options as its fields)."""
    return ReportClassifier(**options).classify(text)


def result_row(result: ReportResult) -> dict[str, object]:
    """The flat, readable columns of one result (for the results sheet)."""
    deciding = next((d for d in result.statements if d.label == result.label_3class), None)
    return {
        "label": result.label,
        "label_3class": result.label_3class,
        "rule": result.rule,
        "reason": result.reason,
        "language": result.language,
        "flags": ",".join(result.flags),
        "target_node": result.target,
        "node_statements": len(result.statements),
        "deciding_statement": deciding.statement.text.strip() if deciding else "",
        "evidence": " | ".join(describe_finding(f) for f in result.findings if f.scope == "node"),
    }


def evidence_rows(result: ReportResult) -> list[dict[str, object]]:
    """One row per match, for the evidence sheet."""
    rows = []
    for f in result.findings:
        m = f.match
        rows.append({
            "matched_text": m.text,
            "start": m.start,
            "end": m.end,
            "entry": m.entry.term,
            "category": m.category,
            "dictionary_line": m.entry.source,
            "match": m.entry.match,
            "score": m.score,
            "scope": f.scope,
            "node_statement": f.statement,
            "negated": f.negated,
            "negation_cue": f.negated_by.text if f.negated_by else "",
            "hedged": f.hedged_by is not None,
            "hedge_cue": f.hedged_by.text if f.hedged_by else "",
            "context": f.context,  # historical | hypothetical | other: never decides
            "context_cue": f.context_by.text if f.context_by else "",
            "polarity": f.polarity,
        })
    return rows

