"""Read pieces into findings and group them into node statements.

* A clause is about a *node* if it holds a node anchor (淋巴结, level III, neck …), about
  the *thyroid* if it holds thyroid context (or another non-node structure). A clause with
  neither continues the previous clause's subject; a background clause (history of …,
  结合病史, the aside after "node that, …,") keeps it and decides nothing. A non-cervical
  region (axilla) takes its clause, and the following ones until a neck region is named,
  out of scope. Findings outside node scope never decide a node label; hilum words are
  about a node wherever they stand.
* A node statement starts at every piece that names a node, so a negation of one side
  ("no abnormal nodes on the left; right level III node with …") never covers the other.
* A node word with a verdict on itself (LN (-), "no nodes", LN (+)) is a finding. A degree
  word on an alarm term makes it indeterminate. Leaning hedges mark findings of their
  clause; an equivocal hedge (cannot be excluded, 不除外) marks its whole node statement.

Segmentation is :mod:`reportmine.mining.clauses`, cue scope :mod:`reportmine.mining.scope`,
the memos :mod:`reportmine.mining.reader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, NamedTuple

from . import anatomy
from .clauses import ClauseMatches, LazyClauses, in_span
from .grammar import DEGREE_GAP, PIECE_END, QUIET, RELATIVE_END, VERDICT_GAP
from .matching import Match
from .scope import negation_cue, pre_cue, quiet_before

if TYPE_CHECKING:
    from .reader import PieceReader


# Pieces end at a sentence end or a semicolon; clauses at a comma or colon.

# What a finding says once negation is applied: (affirmed, negated).
POLARITY = {
    "malignant_finding": ("malignant", "negated"),
    "suspicious_feature": ("malignant", "negated"),
    "enlargement": ("enlarged", "negated"),
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
    context_by: Match | None = None  # the historical / hypothetical / other-person cue (scope "history")

    @property
    def negated(self) -> bool:
        return self.negated_by is not None

    @property
    def context(self) -> str:
        """historical | hypothetical | other | background | "" (why a finding never decides)."""
        return context_kind(self.context_by)


_CONTEXT_KIND = {"reasoning": "background", "history": "historical", "historical": "historical", "historical_post": "historical",
                 "hypothetical": "hypothetical", "experiencer": "other"}


def context_kind(cue: Match | None) -> str:
    return "" if cue is None else _CONTEXT_KIND.get(cue.category, "")


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
        return anatomy.side(self.text)

    @cached_property
    def levels(self) -> tuple[str, ...]:
        """Neck levels named in the statement, ranges expanded (II–IV → II, III, IV)."""
        return anatomy.levels(self.text)


@dataclass(frozen=True)
class ClauseReading:
    """What one clause says once its piece is read (offsets relative to the clause)."""

    anchors: tuple[Match, ...]
    subject: str | None  # "node", "thyroid" or None (continues the previous clause)
    names_region: bool
    outside: bool  # names a non-cervical region
    findings: tuple[tuple[Match, Match | None, Match | None], ...]  # (finding, negator, hedge)
    equivocal: tuple[Match, ...]
    background: bool = False  # an aside clause: keeps the subject, its findings never decide
    history: tuple[int, int] | None = None  # the background part of a clause (history of …)
    background_cue: Match | None = None  # the cue of ``history``




# A degree word on an alarm term ("slightly enlarged", 稍肿大) makes it indeterminate.


def read_piece(piece: str, parts: Sequence[tuple[int, int, str, ClauseMatches]]) -> tuple:
    """Readings of a piece's clauses, each cue's scope following the sentence (see module doc)."""
    clauses = LazyClauses(parts, piece)
    readings = []
    for k, (a, b, _, cm) in enumerate(parts):
        facts = cm.facts
        findings = []
        for m in facts.findings:
            s, e = m.start + a, m.end + a
            negator = negation_cue(clauses, k, s, e, piece)
            if facts.degrees and m.category in ("malignant_finding", "enlargement") and any(
                    d.end <= m.start and DEGREE_GAP.match(piece[a + d.end:s]) for d in facts.degrees):
                m = Match(m.start, m.end, m.text, _softened(m.entry), m.score)
            findings.append((m, None if negator is None else _relative(negator, a), facts.leaning))
        if facts.node_words:
            findings.extend(_node_verdicts(clauses, k, cm, piece, a, facts.leaning))
            findings.sort(key=lambda f: f[0].start)
        # "node that, <aside>, is Y": the aside after a relative pronoun is background.
        background = k > 0 and parts[k - 1][3].language == "en" and \
            RELATIVE_END.search(piece[parts[k - 1][0]:a - 1]) is not None
        readings.append((a, b, ClauseReading(facts.anchors, facts.subject, facts.region, facts.outside,
                                             tuple(findings), facts.equivocal, background, facts.history,
                                             facts.background_cue)))
    return tuple(readings)






def _relative(m: Match, offset: int) -> Match:
    return Match(m.start - offset, m.end - offset, m.text, m.entry, m.score)


@lru_cache(maxsize=4096)  # one per dictionary entry at most
def _softened(entry):
    """The entry as an indeterminate feature (a degree word qualifies it), one object per entry."""
    return replace(entry, category="indeterminate_feature", note=f"degree-qualified: {entry.term}")




def _node_verdicts(clauses, k, cm: ClauseMatches, piece: str, a: int, leaning):
    """A node word with a verdict on itself: "LN (-)", 淋巴结：阴性, "no nodes" (negated) or
    "LN (+)" (positive), where no finding of its own is in between."""
    out = []
    findings = [m for m in cm.other if m.entry.role == "finding"]
    signs = [m for m in cm.other if m.category == "positive_sign"]
    for anchor in cm.scope:
        if anchor.category != "node_anchor" or any(f.start < anchor.end and anchor.start < f.end
                                                    for f in findings):
            continue
        s, e = anchor.start + a, anchor.end + a
        cue = None
        after = [c for c in clauses[k].post + tuple(_shift(x, a) for x in signs) if c.start >= e]
        if k + 1 < len(clauses) and clauses[k + 1].separator in (":", "："):
            after += [c for c in clauses[k + 1].post if quiet_before(clauses[k + 1], c.start, piece)]
        for c in sorted(after):
            if VERDICT_GAP.match(piece[e:c.start]) or QUIET.match(piece[e:c.start]):
                cue = c
            break
        if cue is None:  # "the node previously seen is no longer identified": a verdict ending the clause
            last = [c for c in clauses[k].post if c.start >= e and QUIET.match(piece[c.end:clauses[k].end])]
            if last and not any(e <= f.start + a < last[0].start for f in findings) \
                    and not any(e <= x.start + a < last[0].start for x in cm.scope if x.category == "node_anchor"):
                cue = last[0]
        if cue is None:
            pre = pre_cue(clauses, k, s, piece)
            if pre is not None and not any(pre.end <= f.start + a < s for f in findings) \
                    and not any(f.start + a >= e for f in findings):
                cue = pre
        if cue is None:
            continue
        entry = NODE_NEGATIVE if cue.category != "positive_sign" else NODE_POSITIVE
        end = max(e, cue.end) if cue.start >= e else e
        match = Match(anchor.start, end - a, "", entry, 100.0)
        out.append((match, None if cue.category == "positive_sign" else _relative(cue, a), leaning))
    return out


def _verdict_entry(term: str, note: str):
    from .dictionary import Entry

    return Entry(term=term, category="malignant_finding", language="", note=note,
                 source="(node word with a verdict)")


NODE_NEGATIVE = _verdict_entry("node (negated)", "a node word negated as a whole: no nodes, LN (-)")
NODE_POSITIVE = _verdict_entry("node (+)", "a node word with a positive sign: LN (+)")




def _shift(m: Match | None, offset: int) -> Match | None:
    """A clause-relative match made piece-relative (its text is re-read when placed)."""
    if m is None:
        return None
    return Match(m.start + offset, m.end + offset, "", m.entry, m.score)


def _place(m: Match, offset: int, text: str) -> Match:
    """A piece-relative match placed in the report, its text read from the report."""
    start, end = m.start + offset, m.end + offset
    return Match(start, end, text[start:end], m.entry, m.score)




class PieceAnalysis(NamedTuple):
    """What a piece contributes, offsets relative to the piece (see :func:`analyse`)."""

    current: str  # the subject after the piece
    named: bool  # names a (cervical) node: starts a new node statement
    start: int  # first and last clause boundaries
    end: int
    # (match, scope, in node statement, polarity, negator, hedge, context cue) per finding
    findings: tuple[tuple[Match, str, bool, str | None, Match | None, Match | None, Match | None], ...]
    equivocal: tuple[Match, ...]


def analyse_piece(readings, current: str, new_sentence: bool) -> PieceAnalysis:
    named = False
    findings, equivocal = [], []
    leading = current == "unknown"  # "Not only cystic but also calcified, the node …": the
    for a, _, r in readings:  # subject named later in the sentence takes the leading findings
        if leading and (r.subject is not None or r.outside):
            leading = False
            if r.subject == "node" and not r.outside:
                findings = [(m, "node", True, *rest) if where == "unknown" else (m, where, node, *rest)
                            for m, where, node, *rest in findings]
        # The subject carries forward; an axillary region stays out of scope until a neck
        # region is named (or a new sentence names another subject). A background clause
        # (history of …, 结合病史) keeps the subject and decides nothing.
        if r.background:
            for m, negator, hedge in r.findings:
                findings.append((_shift(m, a), "history", False, None, _shift(negator, a), _shift(hedge, a),
                                 None))
            continue
        if r.outside:
            current = "other"
        elif current != "other" or r.names_region or (r.subject and new_sentence):
            current = r.subject or current
        new_sentence = False
        if r.anchors and current != "other":
            named = True
        if r.equivocal and current == "node":
            equivocal.extend(_shift(m, a) for m in r.equivocal if not in_span(m.start, r.history))
        for m, negator, hedge in r.findings:
            if in_span(m.start, r.history):
                findings.append((_shift(m, a), "history", False, None, _shift(negator, a), _shift(hedge, a),
                                 _shift(r.background_cue, a)))
                continue
            category = m.entry.category
            where = "node" if category in ALWAYS_NODAL and current != "other" else current
            affirmed, negated = POLARITY[category]
            findings.append((_shift(m, a), where, where == "node", affirmed if negator is None else negated,
                             _shift(negator, a), _shift(hedge, a), None))
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
    ends = [m.start() for m in PIECE_END.finditer(text)]
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
            for m, where, in_node, polarity, negator, hedge, cue in p.findings:
                findings.append(Finding(
                    Match(m.start + start, m.end + start, text[m.start + start:m.end + start], m.entry, m.score),
                    where, statement if in_node else -1, polarity,
                    None if negator is None else _place(negator, start, text),
                    None if hedge is None else _place(hedge, start, text),
                    None if cue is None else _place(cue, start, text),
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
