"""Put matches in context: clauses, scope (node vs thyroid), negation, hedging, node statements.

The model is NegEx/ConText's, with scopes that follow the sentence rather than the comma:

* A report splits into sentences (。 . ! ?), pieces (; ；) and clauses (, ， : ：). Each
  clause is matched in the languages it is written in (mixed reports are common).
* A clause is about a *node* if it holds a node anchor (淋巴结, level III, neck …),
  about the *thyroid* if it holds thyroid context (or another non-node structure);
  with both, the head word decides (the last in Chinese, the first in English).
  A clause with neither continues the previous clause's subject; a background clause
  (history of …, 结合病史, the aside after "node that, …,") keeps it and decides nothing.
  A non-cervical region (axilla) takes its clause, and the following ones until a neck
  region is named, out of scope. Findings outside node scope never decide a node label;
  hilum words are about a node wherever they stand.
* A node statement starts at every piece that names a node, so a negation of one side
  ("no abnormal nodes on the left; right level III node with …") never covers the other.
* Cue scope (:func:`pre_cue`, :func:`post_cue`, :func:`hedge_cue`): a pre-negation covers
  the rest of its clause and a comma-separated list of findings after it; it stops at a
  terminator (but, other than, except, 但, 除…外, 伴), at a conjunction that introduces a
  new finding ("and with", "and shows") and at a closing parenthesis. A post-negation
  reaches back within its clause, across a header colon and over a list. A node word with
  a verdict on itself (LN (-), "no nodes", LN (+)) is a finding. A degree word on an alarm
  term makes it indeterminate. Leaning hedges mark findings of their clause; an equivocal
  hedge (cannot be excluded, 不除外) marks its whole node statement.

The same scope functions serve :mod:`reportmine.assertion` (one concept in one text).
Matching is memoised per distinct clause and reading per distinct piece
(:class:`PieceReader`): real reports repeat their sentences verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import NamedTuple

from .matching import Match, split_groups

# Pieces end at a sentence end or a semicolon; clauses at a comma or colon.
_PIECE_END = re.compile(r"[。！？!?\n.;；]")  # a "." between digits (1.5 cm) is no sentence end
_CLAUSE_END = re.compile(r"[,，:：]")

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
    """What one clause says once its piece is read (offsets relative to the clause)."""

    anchors: tuple[Match, ...]
    subject: str | None  # "node", "thyroid" or None (continues the previous clause)
    names_region: bool
    outside: bool  # names a non-cervical region
    findings: tuple[tuple[Match, Match | None, Match | None], ...]  # (finding, negator, hedge)
    equivocal: tuple[Match, ...]
    background: bool = False  # an aside clause: keeps the subject, its findings never decide
    history: tuple[int, int] | None = None  # the background part of a clause (history of …)


class ClauseFacts(NamedTuple):
    """What a clause says whatever its neighbours (computed once per distinct clause)."""

    anchors: tuple[Match, ...]
    subject: str | None
    region: bool
    outside: bool
    findings: tuple[Match, ...]
    leaning: Match | None
    degrees: tuple[Match, ...]
    equivocal: tuple[Match, ...]
    history: tuple[int, int] | None  # the background part (see :func:`history_span`)
    node_words: bool  # holds a node word (for the node verdicts)


_VERB = re.compile(r"\b(?:is|are|was|were|appears?|seems?|remains?|represents?)\b", re.IGNORECASE)


def history_span(text: str, other: Sequence[Match]) -> tuple[int, int] | None:
    """The background part of a clause holding a history cue: from the clause start to the
    first verb or hedge after the cue ("which given the history of carcinoma | is likely
    metastatic"; 鉴于甲状腺癌病史 | 考虑转移), else the whole clause (结合病史; "in view of the
    thyroid cancer history")."""
    cue = next((m for m in other if m.category == "history"), None)
    if cue is None:
        return None
    stops = [m.start for m in other if m.start >= cue.end and m.category in ("introducer", "hedge_leaning")]
    verb = _VERB.search(text, cue.end)
    if verb is not None:
        stops.append(verb.start())
    return 0, min(stops, default=len(text))


def clause_facts(language: str, scope: Sequence[Match], other: Sequence[Match], text: str = "") -> ClauseFacts:
    anchors, subject, region, outside = [], None, False, False
    findings = tuple(m for m in other if m.entry.role == "finding")
    history = history_span(text, other)
    for m in scope:
        if m.category == "thyroid_context" and any(f.start <= m.start and m.end <= f.end for f in findings):
            continue  # part of a finding's own name (甲状腺样组织, thyroid-like tissue)
        if history is not None and m.start < history[1]:
            continue  # background (history of thyroid cancer) names no subject
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
    leaning = next((m for m in other if m.category == "hedge_leaning"), None)
    return ClauseFacts(tuple(anchors), subject, region, outside, findings, leaning,
                       tuple(m for m in other if m.category == "degree"),
                       tuple(m for m in other if m.category == "hedge_equivocal"), history,
                       any(m.category == "node_anchor" for m in scope))


class ClauseMatches(NamedTuple):
    """The dictionary matches of one clause (offsets relative to the clause), read once."""

    language: str
    scope: tuple[Match, ...]
    other: tuple[Match, ...]
    conjunction: bool  # holds a coordinating conjunction (and / or / nor; 及 和 或 与 、)
    facts: ClauseFacts | None  # what the clause says whatever its neighbours (:func:`clause_facts`)


_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[a-z]{3,}")  # an English word, not a unit (cm, mm)
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_CONJUNCTION = re.compile(r"\b(?:and|or|nor)\b|[及和或与、]", re.IGNORECASE)
_AND_BEFORE = re.compile(r"(?:\band|\bor|\bwho|\bwhich|\bthat|,)\s*(?:also\s+|then\s+)?$", re.IGNORECASE)
_PARENTHESIS = re.compile(r"\([^()]*\)")
_OPENING_CONJUNCTION = re.compile(r"\s*(?:and|or|nor)\b", re.IGNORECASE)
_NEW_SUBJECT = re.compile(r"\b(?:and|but|or|so)\s+(?:he|she|they|it|we|there|the patient)\b", re.IGNORECASE)
NEGATIONS = ("negation_pre", "negation_post")
HEDGES = ("hedge_leaning", "hedge_equivocal")
CUE_CATEGORIES = frozenset(NEGATIONS + HEDGES + ("terminator", "introducer", "history"))


def clause_language(text: str) -> str:
    """'zh' when Chinese characters make up at least a fifth of the letters, else 'en'."""
    cjk = len(_CJK.findall(text))
    if not cjk:
        return "en"
    latin = len(_ASCII_LETTER.findall(text))
    return "zh" if cjk >= 0.2 * (cjk + latin) else "en"


def match_piece(piece: str, spans: Sequence[tuple[int, int]], matchers: dict, language: str = "auto",
                exclude=(), facts: bool = True, found: list[Match] | None = None) -> list[ClauseMatches]:
    """Match a piece once and hand each clause its matches (offsets relative to the clause).

    ``found``: the piece's matches when the caller has them already (:func:`find_in_piece`,
    which drops the ``exclude`` spans; they are not looked at again here).
    A match across a clause boundary belongs to neither clause; each clause's own script
    decides its grammar (head noun first or last).
    """
    if found is None:
        found = find_in_piece(piece, matchers, language, exclude)
    has_cjk = language == "auto" and _CJK.search(piece) is not None
    out = []
    for a, b in spans:
        text = piece[a:b]
        if found:
            mine = [Match(m.start - a, m.end - a, m.text, m.entry, m.score) for m in found
                    if a <= m.start and m.end <= b]
            scope, other = split_groups(mine)
        else:
            scope, other = (), ()
        lang = language if language != "auto" else (clause_language(text) if has_cjk else "en")
        conjunction = _CONJUNCTION.search(text) is not None
        out.append(ClauseMatches(lang, tuple(scope), tuple(other), conjunction,
                                 clause_facts(lang, scope, other, text) if facts else None))
    return out


def find_in_piece(piece: str, matchers: dict, language: str = "auto", exclude=()) -> list[Match]:
    """Every dictionary match in a piece (overlaps unresolved, offsets relative to the piece).

    ``language`` "auto" reads a piece in the languages it holds: Chinese characters call the
    Chinese matcher, lower-case Latin words the English one (a Chinese report's English level
    names and findings, an English report's Chinese phrases), so a mixed report is read in
    both. "en" / "zh" force one. Matches overlapping an ``exclude`` span (a concept being
    assessed) are dropped before overlaps are resolved, so a cue inside the concept takes no
    shorter cue with it ("no CHANGE IN VISION": the "no" stays).
    """
    if language == "auto":
        has_cjk = _CJK.search(piece) is not None
        use = [lang for lang, wanted in (("zh", has_cjk), ("en", not has_cjk or _LATIN_WORD.search(piece)))
               if wanted and lang in matchers]
    else:
        use = [language]
    found: list[Match] = []
    for lang in use:
        found.extend(matchers[lang].find(piece))
    if exclude:
        found = [m for m in found if not any(m.start < e and s < m.end for s, e in exclude)]
    return found


class Clause(NamedTuple):
    """One clause of a piece, its matches made piece-relative, sorted by kind."""

    start: int
    end: int
    separator: str  # what ended the previous clause ("" for the first)
    language: str
    anchors: tuple[Match, ...]
    pre: tuple[Match, ...]
    post: tuple[Match, ...]
    hedges: tuple[Match, ...]
    terminators: tuple[Match, ...]
    introducers: tuple[Match, ...]
    conjunction: bool
    background: bool
    words: int = 0
    findings: int = 0
    opens_with_conjunction: bool = False  # "or C …", "and D …"

    @property
    def cues(self) -> bool:
        return bool(self.pre or self.post or self.hedges or self.terminators or self.introducers)


def make_clause(start: int, end: int, separator: str, matches: ClauseMatches, text: str,
                targets_inside=()) -> Clause:
    """A :class:`Clause` from its matches (piece-relative); cues inside a target are left out."""
    kinds: dict[str, list[Match]] = {}
    asides = [(m.start() + start, m.end() + start) for m in _PARENTHESIS.finditer(text[start:end])]
    for m in matches.other:
        if m.category in CUE_CATEGORIES:
            m = Match(m.start + start, m.end + start, m.text, m.entry, m.score)
            if any(m.start < e and s < m.end for s, e in targets_inside):
                continue  # a cue inside the concept itself ("no acute distress") is part of it
            if m.category in ("negation_pre", "negation_post") and any(
                    s <= m.start and m.end <= e and (s, e) != (m.start, m.end) for s, e in asides):
                continue  # "(occult nor overt)": a negation inside a parenthesis stays there
            kinds.setdefault(m.category, []).append(m)
    anchors = tuple(Match(m.start + start, m.end + start, m.text, m.entry, m.score)
                    for m in matches.scope if m.category in ("node_anchor", "neck_region"))
    introducers = tuple(kinds.get("introducer", ()))
    return Clause(start, end, separator, matches.language, anchors, tuple(kinds.get("negation_pre", ())),
                  tuple(kinds.get("negation_post", ())),
                  tuple(kinds.get("hedge_leaning", ())) + tuple(kinds.get("hedge_equivocal", ())),
                  tuple(kinds.get("terminator", ())), introducers, matches.conjunction,
                  bool(kinds.get("history")), len(text[start:end].split()),
                  sum(1 for m in matches.other if m.entry.role == "finding"),
                  _OPENING_CONJUNCTION.match(text, start) is not None)


def _breaks(clause: Clause, lo: int, hi: int, text: str) -> bool:
    """Whether a scope running from ``lo`` to ``hi`` inside ``clause`` is cut: by a terminator,
    or by a conjunction that introduces a new finding ("… and with Y", "… and shows Y")."""
    if any(lo <= t.start and t.end <= hi for t in clause.terminators):
        return True
    between = text[lo:hi]
    if ")" in between.split("(")[0] or _NEW_SUBJECT.search(between):
        return True  # a parenthesis closes, or "… and he is …" starts a new subject
    return any(lo <= i.start and i.end <= hi and _AND_BEFORE.search(text[lo:i.start])
               for i in clause.introducers)


def _bare(clause: Clause) -> bool:
    """A list item: no cue of its own (no negation, hedge, terminator or introducing verb)
    outside a parenthesis ("bleeding (occult nor overt)" is still one item)."""
    return not clause.cues and not clause.background


def _list_run(clauses: Sequence[Clause], first: int, last: int) -> bool:
    """Clauses ``first``..``last`` (comma-joined) form one coordinated list: the bare items
    that follow close with a conjunction ("A, B, or C"; "A, B and C")."""
    end = last
    while end + 1 < len(clauses) and clauses[end + 1].separator == "," and _bare(clauses[end + 1]):
        end += 1
    if any(clauses[i].conjunction for i in range(first, end + 1)):
        return True
    closing = clauses[end + 1] if end + 1 < len(clauses) else None
    if closing is not None and closing.separator == "," and closing.opens_with_conjunction:
        return True  # "A, B, or C although …": the last item opens with the conjunction
    # "no murmurs, rubs, gallops": short items of one term each, running to the sentence end
    return end == len(clauses) - 1 and all(clauses[i].words <= 4 and clauses[i].findings <= 1
                                           for i in range(first, end + 1))


def pre_cue(clauses: Sequence[Clause], k: int, start: int, text: str, kinds=("pre",)) -> Match | None:
    """The pre-cue whose scope reaches a target at ``start`` in clause ``k``.

    Within the clause: the nearest earlier cue, unless a terminator or a conjunction that
    introduces a new finding lies between. Across commas (English lists): a cue in an
    earlier clause covers the bare list items after it when the list closes with a
    conjunction ("no A, B, or C"; "without A, B and C").
    """
    clause = clauses[k]
    for cue in sorted(_cues(clause, kinds, text, forward=True), key=lambda c: -c.end):
        if cue.end <= start:
            return None if _breaks(clause, cue.end, start, text) else cue
    if clause.language != "en" or clause.separator != "," or not _bare_before(clause, start):
        return None
    j = k - 1
    while j >= 0:
        previous = clauses[j]
        cues = _cues(previous, kinds, text, forward=True)
        if cues:
            cue = max(cues, key=lambda c: c.end)
            if _breaks(previous, cue.end, previous.end, text) or not _list_run(clauses, j + 1, k):
                return None
            return cue
        if not _bare(previous) or previous.separator != ",":
            return None
        j -= 1
    return None


_OPPOSITE = {"pre": "post", "post": "pre"}
_QUIET = re.compile(r"^[\s:：()（）\[\]。.]*$")
_COPULA = re.compile(r"\b(?:is|are|was|were)\b", re.IGNORECASE)  # a clause with a verb is no list item


def _cues(clause: Clause, kinds, text: str, *, forward: bool) -> list[Match]:
    """The cues of ``kinds`` that can act in one direction. A negation cue standing alone at
    the start of its clause also reaches forward ("Absent A, B and C"), one standing at the end
    also reaches back ("钙化未见", "Metastatic nodes: none")."""
    cues = [c for kind in kinds for c in getattr(clause, kind)]
    for kind in kinds:
        other = _OPPOSITE.get(kind)
        if other is None:
            continue
        for c in getattr(clause, other):
            if forward and _quiet_before(clause, c.start, text) or \
                    not forward and _QUIET.match(text[c.end:clause.end]) is not None:
                cues.append(c)
    return cues


def _bare_before(clause: Clause, position: int) -> bool:
    """A list item up to ``position``: no cue before it, no verb stating a finding anywhere."""
    return not clause.background and not clause.introducers and not any(
        c.start < position for group in (clause.pre, clause.post, clause.hedges, clause.terminators)
        for c in group)


def post_cue(clauses: Sequence[Clause], k: int, end: int, text: str, kinds=("post",)) -> Match | None:
    """The post-cue whose scope reaches back to a target ending at ``end`` in clause ``k``.

    Within the clause: the nearest later cue with no terminator between. Into the next
    clause: a header and its verdict ("Lymphadenopathy: not seen", "钙化：未见"), and the
    last item of a list ("A, B and C are absent").
    """
    clause = clauses[k]
    for cue in sorted(_cues(clause, kinds, text, forward=False)):
        if cue.start >= end:
            return None if _breaks(clause, end, cue.start, text) else cue
    if k + 1 >= len(clauses):
        return None
    following = clauses[k + 1]
    cues = sorted(_cues(following, kinds, text, forward=False))
    if cues and _quiet_before(following, cues[0].start, text) and (
            following.separator in (":", "：")
            or following.separator == "," and _QUIET.match(text[cues[0].end:following.end])):
        return cues[0]  # "Lymphadenopathy: not seen"; "Small bowel obstruction, resolved"
    if clause.language == "en" and following.separator == "," and _bare(clause) \
            and not _COPULA.search(text[clause.start:clause.end]):
        m = k + 1
        while m < len(clauses) and clauses[m].separator == ",":
            cues = sorted(_cues(clauses[m], kinds, text, forward=False))
            if cues:
                if _breaks(clauses[m], clauses[m].start, cues[0].start, text) or not clauses[m].conjunction:
                    return None
                return cues[0]
            if not _bare(clauses[m]):
                return None
            m += 1
    return None


def _quiet_before(clause: Clause, position: int, text: str) -> bool:
    """Only spaces and brackets before ``position`` in the clause (a bare verdict)."""
    return _QUIET.match(text[clause.start:position]) is not None


def hedge_cue(clauses: Sequence[Clause], k: int, start: int, end: int, text: str) -> Match | None:
    """A hedge over a target: in its clause with no terminator between, or a list's pre-hedge."""
    clause = clauses[k]
    for cue in clause.hedges:
        lo, hi = (cue.end, start) if cue.end <= start else (end, cue.start)
        if not any(lo <= t.start and t.end <= hi for t in clause.terminators):
            return cue
    return pre_cue(clauses, k, start, text, ("hedges",)) if not clause.hedges else None


def negation_cue(clauses: Sequence[Clause], k: int, start: int, end: int, text: str) -> Match | None:
    return pre_cue(clauses, k, start, text) or post_cue(clauses, k, end, text)


def piece_clauses(piece: str, matchers: dict, language: str = "auto", exclude=(),
                  clause_matches=None, facts: bool = True,
                  found: list[Match] | None = None) -> list[tuple[int, int, str, ClauseMatches]]:
    """(start, end, separator, matches) of each non-blank clause of a piece. The piece is
    matched at once (or its ``found`` matches are handed out), or clause by clause through
    ``clause_matches(start, end)`` (a memo)."""
    spans = split_piece(piece)
    if clause_matches is None:
        matched = match_piece(piece, spans, matchers, language, exclude, facts, found)
    else:
        matched = [clause_matches(a, b) for a, b in spans]
    out = []
    for (a, b), matches in zip(spans, matched):
        separator = piece[a - 1] if a > 0 else ""
        out.append((a, b, "," if separator == "，" else separator, matches))
    return out


# A degree word on an alarm term ("slightly enlarged", 稍肿大) makes it indeterminate.
_DEGREE_GAP = re.compile(r"^[\s度地]{0,2}$")


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
                    d.end <= m.start and _DEGREE_GAP.match(piece[a + d.end:s]) for d in facts.degrees):
                m = Match(m.start, m.end, m.text, _softened(m.entry), m.score)
            findings.append((m, None if negator is None else _relative(negator, a), facts.leaning))
        if facts.node_words:
            findings.extend(_node_verdicts(clauses, k, cm, piece, a, facts.leaning))
            findings.sort(key=lambda f: f[0].start)
        # "node that, <aside>, is Y": the aside after a relative pronoun is background.
        background = k > 0 and parts[k - 1][3].language == "en" and \
            _RELATIVE_END.search(piece[parts[k - 1][0]:a - 1]) is not None
        readings.append((a, b, ClauseReading(facts.anchors, facts.subject, facts.region, facts.outside,
                                             tuple(findings), facts.equivocal, background, facts.history)))
    return tuple(readings)


_RELATIVE_END = re.compile(r"\b(?:that|which|who)\s*$", re.IGNORECASE)


class LazyClauses(Sequence):
    """The :class:`Clause` objects of a piece, each made when a scope rule first asks for it
    (most clauses hold no finding and are never looked at)."""

    def __init__(self, parts, piece: str, targets=()) -> None:
        self.parts = parts
        self.piece = piece
        self.targets = targets
        self.made: dict[int, Clause] = {}

    def __len__(self) -> int:
        return len(self.parts)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self.parts)
        clause = self.made.get(k)
        if clause is None:
            a, b, separator, matches = self.parts[k]
            clause = self.made[k] = make_clause(a, b, separator, matches, self.piece, self.targets)
        return clause


def _relative(m: Match, offset: int) -> Match:
    return Match(m.start - offset, m.end - offset, m.text, m.entry, m.score)


@lru_cache(maxsize=4096)  # one per dictionary entry at most
def _softened(entry):
    """The entry as an indeterminate feature (a degree word qualifies it), one object per entry."""
    return replace(entry, category="indeterminate_feature", note=f"degree-qualified: {entry.term}")


_VERDICT_GAP = re.compile(r"^[\s:：]*$")


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
            after += [c for c in clauses[k + 1].post if _quiet_before(clauses[k + 1], c.start, piece)]
        for c in sorted(after):
            if _VERDICT_GAP.match(piece[e:c.start]) or _QUIET.match(piece[e:c.start]):
                cue = c
            break
        if cue is None:  # "the node previously seen is no longer identified": a verdict ending the clause
            last = [c for c in clauses[k].post if c.start >= e and _QUIET.match(piece[c.end:clauses[k].end])]
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
    """Split a piece into clauses and read them (:func:`read_piece`), with bounded memos.

    Real reports repeat their sentences verbatim, so the memo is per distinct piece (and per
    distinct clause for the matching). When no dictionary term contains a digit, pieces that
    differ only in their digits ("12 x 8 mm" / "15 x 9 mm") read the same, and the key folds
    digits to 0 (same length, same offsets). Matched text is always re-read from the report.
    """

    def __init__(self, matchers, *, language: str = "auto", fold_digits: bool = False,
                 cache_size: int = 100_000) -> None:
        self.matchers = matchers if isinstance(matchers, dict) else {language: matchers}
        self.language = language
        self.fold_digits = fold_digits
        self.cache_size = cache_size
        self._cache: dict[str, tuple[tuple[int, int, ClauseReading], ...]] = {}
        self._clauses: dict[str, ClauseMatches] = {}  # second level: a new piece of known clauses
        self._analyses: dict[tuple[str, str, bool], PieceAnalysis] = {}

    def fold(self, text: str) -> str:
        return text.translate(_DIGITS_TO_ZERO) if self.fold_digits else text

    def __call__(self, piece: str, key: str) -> tuple[tuple[int, int, ClauseReading], ...]:
        readings = self._cache.get(key)
        if readings is None:
            def clause_matches(a: int, b: int) -> ClauseMatches:
                return self._clause(piece[a:b], key[a:b])

            readings = read_piece(piece, piece_clauses(piece, self.matchers, self.language,
                                                       clause_matches=clause_matches))
            if len(self._cache) >= self.cache_size:
                self._cache.clear()  # bounded memory; the common phrases come straight back
            self._cache[key] = readings
        return readings

    def _clause(self, clause: str, key: str) -> ClauseMatches:
        """The matches of one clause, memoised: reports repeat their clauses even more than
        their sentences (边界清晰, 形态规整)."""
        found = self._clauses.get(key)
        if found is None:
            found = match_piece(clause, [(0, len(clause))], self.matchers, self.language)[0]
            if len(self._clauses) >= self.cache_size:
                self._clauses.clear()
            self._clauses[key] = found
        return found

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
                findings.append((_shift(m, a), "history", False, None, _shift(negator, a), _shift(hedge, a)))
            continue
        if r.outside:
            current = "other"
        elif current != "other" or r.names_region or (r.subject and new_sentence):
            current = r.subject or current
        new_sentence = False
        if r.anchors and current != "other":
            named = True
        if r.equivocal and current == "node":
            equivocal.extend(_shift(m, a) for m in r.equivocal
                             if r.history is None or m.start >= r.history[1])
        for m, negator, hedge in r.findings:
            if r.history is not None and m.start < r.history[1]:
                findings.append((_shift(m, a), "history", False, None, _shift(negator, a), _shift(hedge, a)))
                continue
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
