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
and memoised (:class:`ClauseReader`): real reports repeat their sentences verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .matching import _LRU, Match, split_groups

_SENTENCE_END = re.compile(r"[。！？!?\n]|(?<!\d)\.(?!\d)")
_PIECE_END = re.compile(r"[;；]")
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


@dataclass(frozen=True)
class Clause:
    start: int
    end: int
    sentence: int
    piece: int  # global piece index


@dataclass(frozen=True)
class Finding:
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
    side: str  # left | right | bilateral | ""
    levels: tuple[str, ...]
    anchors: tuple[Match, ...]
    equivocal: tuple[Match, ...]  # equivocal hedges inside node scope
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class ClauseReading:
    """What one clause says on its own (offsets relative to the clause)."""

    anchors: tuple[Match, ...]
    subject: str | None  # "node", "thyroid" or None (continues the previous clause)
    names_region: bool
    outside: bool  # names a non-cervical region
    findings: tuple[tuple[Match, Match | None, Match | None], ...]  # (finding, negator, hedge)
    equivocal: tuple[Match, ...]


def split_clauses(text: str) -> list[Clause]:
    """Clauses with their sentence and piece numbers; offsets are into ``text``."""
    boundaries: list[tuple[int, int]] = []  # (position, rank) rank 3 sentence, 2 piece, 1 clause
    for rank, pattern in ((3, _SENTENCE_END), (2, _PIECE_END), (1, _CLAUSE_END)):
        boundaries.extend((m.start(), rank) for m in pattern.finditer(text))
    boundaries.sort()
    clauses: list[Clause] = []
    start, sentence, piece = 0, 0, 0
    for pos, rank in boundaries:
        if pos > start and not text[start:pos].isspace():
            clauses.append(Clause(start, pos, sentence, piece))
        start = pos + 1
        if rank >= 2:
            piece += 1
        if rank == 3:
            sentence += 1
    if start < len(text) and not text[start:].isspace():
        clauses.append(Clause(start, len(text), sentence, piece))
    return clauses


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


class ClauseReader:
    """:func:`read_clause` with a bounded memo per distinct clause text."""

    def __init__(self, language: str, matcher, cache_size: int = 100_000) -> None:
        self.language = language
        self.matcher = matcher
        self._cache = _LRU(cache_size)

    def __call__(self, text: str) -> ClauseReading:
        reading = self._cache.get(text)
        if reading is None:
            reading = read_clause(text, self.language, self.matcher)
            self._cache.put(text, reading)
        return reading


def _shift(m: Match | None, offset: int) -> Match | None:
    if m is None or offset == 0:
        return m
    return Match(m.start + offset, m.end + offset, m.text, m.entry, m.score)


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


def analyse(text: str, reader: ClauseReader) -> tuple[list[NodeStatement], list[Finding]]:
    """Node statements and every finding (node, thyroid, other or unknown scope) of one report."""
    clauses = split_clauses(text)
    readings = [reader(text[c.start:c.end]) for c in clauses]

    # Subject of each clause, carried forward; an axillary region stays out of scope
    # until a neck region is named.
    scope: list[str] = []
    current, sentence = "unknown", -1
    for c, r in zip(clauses, readings):
        if r.outside:
            current = "other"
        elif current != "other" or r.names_region or (r.subject and c.sentence != sentence):
            current = r.subject or current
        sentence = c.sentence
        scope.append(current)

    # Node statements: a new one starts at each piece that names a node.
    piece_has_anchor = {c.piece for c, r, s in zip(clauses, readings, scope) if r.anchors and s != "other"}
    statement_of: list[int] = []
    statement, last_piece = -1, None
    for c in clauses:
        if c.piece != last_piece:
            if c.piece in piece_has_anchor or statement < 0:
                statement += 1
            last_piece = c.piece
        statement_of.append(statement)

    findings: list[Finding] = []
    equivocal: dict[int, list[Match]] = {}
    for c, r, where_clause, s in zip(clauses, readings, scope, statement_of):
        if where_clause == "node" and r.equivocal:
            equivocal.setdefault(s, []).extend(_shift(m, c.start) for m in r.equivocal)
        for m, negator, hedge in r.findings:
            where = "node" if m.category in ALWAYS_NODAL and where_clause != "other" else where_clause
            affirmed, negated = POLARITY[m.category]
            findings.append(Finding(
                match=_shift(m, c.start),
                scope=where,
                statement=s if where == "node" else -1,
                polarity=negated if negator is not None else affirmed,
                negated_by=_shift(negator, c.start),
                hedged_by=_shift(hedge, c.start),
            ))

    statements: list[NodeStatement] = []
    for index in range(statement + 1):
        own = tuple(f for f in findings if f.statement == index)
        hedges = tuple(equivocal.get(index, ()))
        if not (own or hedges):
            continue
        members = [i for i, s in enumerate(statement_of) if s == index]
        start, end = clauses[members[0]].start, clauses[members[-1]].end
        anchors = tuple(_shift(m, clauses[i].start) for i in members for m in readings[i].anchors)
        chunk = text[start:end]
        statements.append(NodeStatement(index, start, end, chunk, _side(chunk), _levels(chunk),
                                        anchors, hedges, own))
    return statements, findings
