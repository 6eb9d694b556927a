"""Put matches in context: clauses, scope (node vs thyroid), negation, hedging, node statements.

The model is NegEx/ConText's, at clause granularity:

* A report splits into sentences (。 . ! ?), pieces (; ；) and clauses (, ， : ：).
* A clause is about a *node* if it holds a node anchor (淋巴结, level III, neck …),
  about the *thyroid* if it holds thyroid context (or another non-node structure);
  with both, the head word decides (the last in Chinese, the first in English).
  A clause with neither continues the previous clause's subject. Findings in thyroid clauses never decide a node label.
  Hilum words are about a node wherever they stand.
* A node statement starts at every piece that names a node, so a negation of one side
  ("no abnormal nodes on the left; right level III node with …") never covers the other.
* Pre-negations reach forward and post-negations back, within their clause, and stop at
  a terminator (but, except, 但, 除…外). Leaning hedges mark findings of their clause;
  an equivocal hedge (cannot be excluded, 不除外) marks its whole node statement.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .matching import Match

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


def split_clauses(text: str) -> list[Clause]:
    """Clauses with their sentence and piece numbers; offsets are into ``text``."""
    boundaries: list[tuple[int, int]] = []  # (position, rank) rank 3 sentence, 2 piece, 1 clause
    for rank, pattern in ((3, _SENTENCE_END), (2, _PIECE_END), (1, _CLAUSE_END)):
        boundaries.extend((m.start(), rank) for m in pattern.finditer(text))
    boundaries.sort()
    clauses: list[Clause] = []
    start, sentence, piece = 0, 0, 0
    for pos, rank in boundaries:
        if pos > start and text[start:pos].strip():
            clauses.append(Clause(start, pos, sentence, piece))
        start = pos + 1
        if rank >= 2:
            piece += 1
        if rank == 3:
            sentence += 1
    if start < len(text) and text[start:].strip():
        clauses.append(Clause(start, len(text), sentence, piece))
    return clauses


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


def _clause_scopes(clauses: Sequence[Clause], language: str, scope_matches: Sequence[Match],
                   clause_of) -> tuple[list[str], dict[int, list[Match]]]:
    """What each clause is about, and the node anchors it holds.

    A non-cervical region (axilla) makes its clause and the following ones "other" until a
    neck region is named: "右侧腋下…可见淋巴门结构" is an axillary node, not a cervical one.
    """
    anchors_in: dict[int, list[Match]] = {}
    subject: dict[int, str] = {}
    regions: set[int] = set()
    outside: set[int] = set()
    for m in scope_matches:  # sorted by position
        c = clause_of(m)
        if m.category == "non_cervical":
            outside.add(c)
            continue
        kind = "thyroid" if m.category == "thyroid_context" else "node"
        if kind == "node":
            anchors_in.setdefault(c, []).append(m)
        if m.category == "neck_region":
            regions.add(c)
        # The head of a Chinese phrase is its last noun (颈部皮下 is subcutaneous), of an
        # English one its first (lymph node in the thyroid bed is a node).
        if language == "zh" or c not in subject:
            subject[c] = kind
    scope: list[str] = []
    current = "unknown"
    for i, clause in enumerate(clauses):
        if i in outside:
            current = "other"
        elif current == "other" and i not in regions and (
                i == 0 or clauses[i - 1].sentence == clause.sentence or i not in subject):
            pass  # still about the axillary (or other non-neck) node
        else:
            current = subject.get(i, current)
        if current == "other":
            anchors_in.pop(i, None)
        scope.append(current)
    return scope, anchors_in


def _no_terminator_between(terminators: Sequence[Match], lo: int, hi: int) -> bool:
    return not any(lo <= t.start and t.end <= hi for t in terminators)


def analyse(text: str, language: str, scope_matches: Sequence[Match], matches: Sequence[Match]) -> tuple[
        list[NodeStatement], list[Finding]]:
    """Node statements and every finding (node, thyroid or unknown scope) of one report."""
    clauses = split_clauses(text)
    if not clauses:
        return [], []
    clause_starts = [c.start for c in clauses]

    def clause_of(m: Match) -> int:
        return max(0, bisect.bisect_right(clause_starts, m.start) - 1)

    scope, anchors_in = _clause_scopes(clauses, language, scope_matches, clause_of)

    # Node statements: a new one starts at each piece that names a node.
    statement_of_clause: list[int] = []
    piece_has_anchor = {clauses[i].piece for i in anchors_in}
    statement, last_piece = -1, None
    for clause in clauses:
        if clause.piece != last_piece:
            if clause.piece in piece_has_anchor or statement < 0:
                statement += 1
            last_piece = clause.piece
        statement_of_clause.append(statement)

    by_clause: dict[int, list[Match]] = {}
    for m in matches:
        by_clause.setdefault(clause_of(m), []).append(m)

    findings: list[Finding] = []
    equivocal: dict[int, list[Match]] = {}
    for c, in_clause in by_clause.items():
        terminators = [m for m in in_clause if m.category == "terminator"]
        pre = [m for m in in_clause if m.category == "negation_pre"]
        post = [m for m in in_clause if m.category == "negation_post"]
        leaning = [m for m in in_clause if m.category == "hedge_leaning"]
        for m in in_clause:
            if m.category == "hedge_equivocal" and scope[c] == "node":
                equivocal.setdefault(statement_of_clause[c], []).append(m)
            if m.entry.role != "finding":
                continue
            negator = next((q for q in reversed(pre) if q.end <= m.start
                            and _no_terminator_between(terminators, q.end, m.start)), None)
            if negator is None:
                negator = next((q for q in post if q.start >= m.end
                                and _no_terminator_between(terminators, m.end, q.start)), None)
            hedge = leaning[0] if leaning else None
            where = "node" if m.category in ALWAYS_NODAL and scope[c] != "other" else scope[c]
            affirmed, negated = POLARITY[m.category]
            findings.append(Finding(
                match=m,
                scope=where,
                statement=statement_of_clause[c] if where == "node" else -1,
                polarity=negated if negator is not None else affirmed,
                negated_by=negator,
                hedged_by=hedge,
            ))
    findings.sort(key=lambda f: f.match.start)

    statements: list[NodeStatement] = []
    for index in range(statement + 1):
        members = [i for i, s in enumerate(statement_of_clause) if s == index]
        start, end = clauses[members[0]].start, clauses[members[-1]].end
        own = tuple(f for f in findings if f.statement == index)
        anchors = tuple(m for i in members for m in anchors_in.get(i, ()))
        hedges = tuple(equivocal.get(index, ()))
        if not (own or hedges):
            continue
        chunk = text[start:end]
        statements.append(NodeStatement(index, start, end, chunk, _side(chunk), _levels(chunk),
                                        anchors, hedges, own))
    return statements, findings
