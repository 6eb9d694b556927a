"""Put matches in context: clauses, scope (node vs thyroid), negation, hedging, node statements.

The model is NegEx/ConText's, at clause granularity:

* A report splits into sentences (。 . ! ?), pieces (; ；) and clauses (, ， : ：).
* A clause is about a *node* if it holds a node anchor (淋巴结, level III, neck …),
  about the *thyroid* if it holds thyroid context (or another non-node structure);
  with both, the head word decides (the last in Chinese, the first in English).
  A clause with neither continues the previous clause's subject. A non-cervical region
  (axilla) takes its clause, and the following ones until a neck region is named, out
  of scope. Findings outside node scope never decide a node label; hilum words are about
  a node wherever they stand.
* A node statement starts at every piece that names a node, so a negation of one side
  ("no abnormal nodes on the left; right level III node with …") never covers the other.
* Pre-negations reach forward and post-negations back, within their clause, and stop at
  a terminator (but, except, 但, 除…外). Leaning hedges mark findings of their clause;
  an equivocal hedge (cannot be excluded, 不除外) marks its whole node statement.

Everything that depends on one clause only is computed once per distinct clause text
and memoised (:class:`PieceReader`): real reports repeat their sentences verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from .matching import Match, split_groups

# Pieces end at a sentence end or a semicolon; clauses at a comma or colon.
_PIECE_END = re.compile(r"[。！？!?\n.;；]")  # a "." between digits (1.5 cm) is no sentence end
_CLAUSE_END = re.compile(r"[,，:：]")

# What a finding says once negation is applied: (affirmed, negated).
POLARITY = {
    "malignant_finding": ("malignant", "negated"),
    "suspicious_feature": ("malignant", "negated"),
    "benign_finding": ("benign", "indeterminate"),
    "hilum_present": ("benign", "hilum_absent"),
    "hilum_absent": ("hilum_absent", "benign"),
    "hilum_unclear": ("indeterminate", "benign"),
    "indeterminate_feature": ("indeterminate", "negated"),
    "hypervascularity": ("hypervascular", None),
}
ALWAYS_NODAL = frozenset({"hilum_present", "hilum_absent", "hilum_unclear"})


class Finding(NamedTuple):
    match: Match
    scope: str  # "node", "thyroid", "other" (non-cervical) or "unknown"
    statement: int  # index of the node statement, -1 outside node scope
    polarity: str | None  # see POLARITY
    negated_by: Match | None = None
    hedged_by: Match | None = None

    @property
    def negated(self) -> bool:
        return self.negated_by is not None


@dataclass(frozen=True)
class NodeStatement:
    index: int
    start: int
    end: int
    text: str
    equivocal: tuple[Match, ...]  # equivocal hedges inside node scope
    findings: tuple[Finding, ...]

    @cached_property
    def side(self) -> str:
        """left | right | bilateral | "" (read from the statement's text when first asked)."""
        return _side(self.text)

    @cached_property
    def levels(self) -> tuple[str, ...]:
        """Neck levels named in the statement, ranges expanded (II–IV → II, III, IV)."""
        return _levels(self.text)


@dataclass(frozen=True)
class ClauseReading:
    """What one clause says on its own (offsets relative to the clause)."""

    anchors: tuple[Match, ...]
    subject: str | None  # "node", "thyroid" or None (continues the previous clause)
    names_region: bool
    outside: bool  # names a non-cervical region
    findings: tuple[tuple[Match, Match | None, Match | None], ...]  # (finding, negator, hedge)
    equivocal: tuple[Match, ...]


def _no_terminator_between(terminators: Sequence[Match], lo: int, hi: int) -> bool:
    return not any(lo <= t.start and t.end <= hi for t in terminators)


def read_clause(text: str, language: str, matcher) -> ClauseReading:
    """Match one clause and apply its negations and hedges."""
    scope_matches, matches = split_groups(matcher.find(text))
    anchors, subject, region, outside = [], None, False, False
    for m in scope_matches:
        if m.category == "non_cervical":
            outside = True
            continue
        kind = "thyroid" if m.category == "thyroid_context" else "node"
        if kind == "node":
            anchors.append(m)
            region = region or m.category == "neck_region"
        # The head of a Chinese phrase is its last noun (颈部皮下 is subcutaneous), of an
        # English one its first (lymph node in the thyroid bed is a node).
        if language == "zh" or subject is None:
            subject = kind
    terminators = [m for m in matches if m.category == "terminator"]
    pre = [m for m in matches if m.category == "negation_pre"]
    post = [m for m in matches if m.category == "negation_post"]
    leaning = next((m for m in matches if m.category == "hedge_leaning"), None)
    findings = []
    for m in matches:
        if m.entry.role != "finding":
            continue
        negator = next((q for q in reversed(pre) if q.end <= m.start
                        and _no_terminator_between(terminators, q.end, m.start)), None)
        if negator is None:
            negator = next((q for q in post if q.start >= m.end
                            and _no_terminator_between(terminators, m.end, q.start)), None)
        findings.append((m, negator, leaning))
    equivocal = tuple(m for m in matches if m.category == "hedge_equivocal")
    return ClauseReading(tuple(anchors), subject, region, outside, tuple(findings), equivocal)


_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")


def split_piece(text: str) -> list[tuple[int, int]]:
    """(start, end) of the non-blank clauses of one piece."""
    spans, start = [], 0
    for m in _CLAUSE_END.finditer(text):
        if m.start() > start and not text[start:m.start()].isspace():
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text) and not text[start:].isspace():
        spans.append((start, len(text)))
    return spans


class PieceReader:
    """Split a piece into clauses and read each (:func:`read_clause`), with a bounded memo.

    Real reports repeat their sentences verbatim, so the memo is per distinct piece. When no
    dictionary term contains a digit, pieces that differ only in their digits ("12 x 8 mm" /
    "15 x 9 mm") read the same, and the key folds digits to 0 (same length, same offsets).
    Matched text is always re-read from the report itself.
    """

    def __init__(self, language: str, matcher, *, fold_digits: bool = False, cache_size: int = 100_000) -> None:
        self.language = language
        self.matcher = matcher
        self.fold_digits = fold_digits
        self.cache_size = cache_size
        self._cache: dict[str, tuple[tuple[int, int, ClauseReading], ...]] = {}
        self._clauses: dict[str, ClauseReading] = {}  # second level: a new piece of known clauses
        self._analyses: dict[tuple[str, str, bool], PieceAnalysis] = {}

    def fold(self, text: str) -> str:
        return text.translate(_DIGITS_TO_ZERO) if self.fold_digits else text

    def __call__(self, piece: str, key: str) -> tuple[tuple[int, int, ClauseReading], ...]:
        readings = self._cache.get(key)
        if readings is None:
            readings = tuple((a, b, self._clause(piece[a:b], key[a:b])) for a, b in split_piece(piece))
            if len(self._cache) >= self.cache_size:
                self._cache.clear()  # bounded memory; the common phrases come straight back
            self._cache[key] = readings
        return readings

    def analysis(self, piece: str, key: str, current: str, new_sentence: bool) -> PieceAnalysis:
        """Scope and findings of a piece given the subject it inherits (memoised too)."""
        memo_key = (key, current, new_sentence)
        found = self._analyses.get(memo_key)
        if found is None:
            found = _analyse_piece(self(piece, key), current, new_sentence)
            if len(self._analyses) >= self.cache_size:
                self._analyses.clear()
            self._analyses[memo_key] = found
        return found

    def _clause(self, clause: str, key: str) -> ClauseReading:
        reading = self._clauses.get(key)
        if reading is None:
            reading = read_clause(clause, self.language, self.matcher)
            if len(self._clauses) >= self.cache_size:
                self._clauses.clear()
            self._clauses[key] = reading
        return reading


def _shift(m: Match | None, offset: int) -> Match | None:
    """A clause-relative match made piece-relative (its text is re-read when placed)."""
    if m is None:
        return None
    return Match(m.start + offset, m.end + offset, "", m.entry, m.score)


def _place(m: Match, offset: int, text: str) -> Match:
    """A piece-relative match placed in the report, its text read from the report."""
    start, end = m.start + offset, m.end + offset
    return Match(start, end, text[start:end], m.entry, m.score)


_ZH_LEVEL = re.compile(r"([IV]+)[AB]?\s*(?:[~～\-–至到、,，和及与]\s*([IV]+)[AB]?)?\s*区")
_EN_LEVEL = re.compile(r"\b(?:levels?|lvl|L)\s*([IV]+)[ab]?\b(?:\s*(?:-|–|to|and|/)\s*([IV]+)[ab]?\b)?",
                       re.IGNORECASE)
_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII"]


def _levels(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for pattern in (_ZH_LEVEL, _EN_LEVEL):
        for m in pattern.finditer(text):
            first, last = m.group(1).upper(), (m.group(2) or m.group(1)).upper()
            if first in _ROMAN and last in _ROMAN:
                lo, hi = sorted((_ROMAN.index(first), _ROMAN.index(last)))
                found.extend(_ROMAN[lo:hi + 1])
    return tuple(dict.fromkeys(found))


def _side(text: str) -> str:
    lowered = text.lower()
    left = "左" in text or re.search(r"\b(left|lt|l)\b", lowered) is not None
    right = "右" in text or re.search(r"\b(right|rt|r)\b", lowered) is not None
    both = "双" in text or re.search(r"\b(bilateral|bilaterally|both)\b", lowered) is not None
    if both or (left and right):
        return "bilateral"
    return "left" if left else "right" if right else ""


class PieceAnalysis(NamedTuple):
    """What a piece contributes, offsets relative to the piece (see :func:`analyse`)."""

    current: str  # the subject after the piece
    named: bool  # names a (cervical) node: starts a new node statement
    start: int  # first and last clause boundaries
    end: int
    # (match, scope, in node statement, polarity, negator, hedge) per finding
    findings: tuple[tuple[Match, str, bool, str | None, Match | None, Match | None], ...]
    equivocal: tuple[Match, ...]


def _analyse_piece(readings, current: str, new_sentence: bool) -> PieceAnalysis:
    named = False
    findings, equivocal = [], []
    for a, _, r in readings:
        # The subject carries forward; an axillary region stays out of scope until a neck
        # region is named (or a new sentence names another subject).
        if r.outside:
            current = "other"
        elif current != "other" or r.names_region or (r.subject and new_sentence):
            current = r.subject or current
        new_sentence = False
        if r.anchors and current != "other":
            named = True
        if r.equivocal and current == "node":
            equivocal.extend(_shift(m, a) for m in r.equivocal)
        for m, negator, hedge in r.findings:
            category = m.entry.category
            where = "node" if category in ALWAYS_NODAL and current != "other" else current
            affirmed, negated = POLARITY[category]
            findings.append((_shift(m, a), where, where == "node", affirmed if negator is None else negated,
                             _shift(negator, a), _shift(hedge, a)))
    start = readings[0][0] if readings else 0
    end = readings[-1][1] if readings else 0
    return PieceAnalysis(current, named, start, end, tuple(findings), tuple(equivocal))


def analyse(text: str, reader: PieceReader) -> tuple[list[NodeStatement], list[Finding]]:
    """Node statements and every finding (node, thyroid, other or unknown scope) of one report.

    One pass, a piece at a time: a piece decides whether it starts a new node statement only
    once all its clauses are read. Matched text is read from ``text`` itself.
    """
    findings: list[Finding] = []
    equivocal: dict[int, list[Match]] = {}
    bounds: dict[int, list[int]] = {}  # statement -> [start, end]
    current, statement, last_sentence = "unknown", -1, -1
    folded = reader.fold(text)
    start = sentence = 0
    size = len(text)
    ends = [m.start() for m in _PIECE_END.finditer(text)]
    ends.append(size)
    for pos in ends:
        if pos < size and text[pos] == "." and 0 < pos < size - 1 and text[pos - 1].isdigit() \
                and text[pos + 1].isdigit():
            continue
        if pos > start:
            p = reader.analysis(text[start:pos], folded[start:pos], current, sentence != last_sentence)
            last_sentence = sentence
            current = p.current
            if p.named or statement < 0:
                statement += 1
            if p.end > p.start:
                span = bounds.get(statement)
                if span is None:
                    bounds[statement] = [start + p.start, start + p.end]
                else:
                    span[1] = start + p.end
            if p.equivocal:
                equivocal.setdefault(statement, []).extend(_place(m, start, text) for m in p.equivocal)
            for m, where, in_node, polarity, negator, hedge in p.findings:
                findings.append(Finding(
                    Match(m.start + start, m.end + start, text[m.start + start:m.end + start], m.entry, m.score),
                    where, statement if in_node else -1, polarity,
                    None if negator is None else _place(negator, start, text),
                    None if hedge is None else _place(hedge, start, text),
                ))
        start = pos + 1
        if pos < size and text[pos] not in ";；":
            sentence += 1

    statements: list[NodeStatement] = []
    by_statement: dict[int, list[Finding]] = {}
    for f in findings:
        if f.statement >= 0:
            by_statement.setdefault(f.statement, []).append(f)
    for index in sorted(set(by_statement) | set(equivocal)):
        lo, hi = bounds[index]
        statements.append(NodeStatement(index, lo, hi, text[lo:hi], tuple(equivocal.get(index, ())),
                                        tuple(by_statement.get(index, ()))))
    return statements, findings
