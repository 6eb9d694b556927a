"""Cut a piece of a report into clauses and match each clause once.

A report splits into sentences (。 . ! ?), pieces (; ；) and clauses (, ， : ：); the
marks are the tables of :mod:`reportmine.mining.grammar`. Each clause is matched in the
languages it is written in (mixed reports are common) and what it says whatever its
neighbours is computed once (:class:`ClauseFacts`): its scope words, its subject (node or
thyroid: the head word decides, the last in Chinese, the first in English), its findings,
hedges and degree words, and its background part (history of …). :class:`Clause` is the
form the scope rules (:mod:`reportmine.mining.scope`) read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .grammar import (
    ASCII_LETTER,
    CJK,
    CLAUSE_END,
    COMPARISON_BEFORE,
    CONJUNCTION,
    LATIN_WORD,
    OPENING_CONJUNCTION,
    OPENING_MODIFIER,
    PARENTHESIS,
    PERSON_FOLLOWS,
    PERSON_PRECEDES,
    PHRASE_END,
    STATING_VERB,
)
from .matching import Match, split_groups

NEGATIONS = ("negation_pre", "negation_post")
HEDGES = ("hedge_leaning", "hedge_equivocal")
# ConText's temporality and experiencer cues (see :mod:`reportmine.mining.properties`).
CONTEXT_CATEGORIES = ("historical", "historical_post", "hypothetical", "experiencer", "current")
CUE_CATEGORIES = frozenset(NEGATIONS + HEDGES + ("terminator", "introducer", "history", "reasoning")
                           + CONTEXT_CATEGORIES)
# Cues that make part of a clause background for the classifier (its findings never decide a
# label): what follows a forward cue, what precedes a backward one.
BACKGROUND_FORWARD = frozenset({"historical", "hypothetical", "experiencer"})
BACKGROUND_BACKWARD = frozenset({"historical_post"})
# What ends a forward background scope early: a stated finding (introducer, hedge) or "now".
_BACKGROUND_STOPS = frozenset({"introducer", "hedge_leaning", "current"})
_HISTORY = frozenset({"history", "reasoning"})  # background from the clause start (see :func:`background`)
_BACKGROUND_CUES = _HISTORY | BACKGROUND_FORWARD | BACKGROUND_BACKWARD


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
    background_cue: Match | None = None  # the cue that made ``history`` background


def in_span(position: int, span: tuple[int, int] | None) -> bool:
    return span is not None and span[0] <= position < span[1]


def history_span(text: str, other: Sequence[Match]) -> tuple[int, int] | None:
    """The background part of a clause (see :func:`background`)."""
    found = background(text, other)
    return None if found is None else found[0]


def background(text: str, other: Sequence[Match]) -> tuple[tuple[int, int], Match] | None:
    """The background part of a clause and the cue that makes it so, or None.

    * A history cue: from the clause start to the first verb or hedge after the cue ("which
      given the history of carcinoma | is likely metastatic"; 鉴于甲状腺癌病史 | 考虑转移),
      else the whole clause (结合病史; "in view of the thyroid cancer history").
    * A historical cue before its concept (status post, previous, 既往): from the cue to the
      first verb, introducer or hedge after it; none when "now" follows in the clause (the
      past only names the subject: "既往肿大淋巴结本次已消失").
    * A hypothetical or another person's cue (if, should, 如有, 建议; mother, 家族史): from the
      cue to the end of the clause, or to "now".
    * A historical cue after its concept (术后, in the past): from the clause start, or the
      last stop before the cue, to the cue's end.
    """
    cue = next((m for m in other if m.entry.category in _BACKGROUND_CUES), None)
    if cue is None:
        return None
    if cue.category in BACKGROUND_BACKWARD:
        stops = [m.end for m in other if m.end <= cue.start and m.category in _BACKGROUND_STOPS]
        return (max(stops, default=0), cue.end), cue
    if cue.category == "historical" and any(m.category == "current" and m.start >= cue.end for m in other):
        return None  # "既往…肿大淋巴结本次已消失": the past names the subject, the clause speaks of now
    kinds = _BACKGROUND_STOPS if cue.category in _HISTORY or cue.category == "historical" else {"current"}
    stops = [m.start for m in other if m.start >= cue.end and m.category in kinds]
    if cue.category in _HISTORY or cue.category == "historical":
        verb = STATING_VERB.search(text, cue.end)
        if verb is not None:
            stops.append(verb.start())
    if cue.category == "historical":
        stops.append(modifier_phrase_end(text, cue))
    return (0 if cue.category in _HISTORY else cue.start, min(stops, default=len(text))), cue


def clause_facts(language: str, scope: Sequence[Match], other: Sequence[Match], text: str = "") -> ClauseFacts:
    anchors, subject, region, outside = [], None, False, False
    findings, degrees, equivocal, leaning = [], [], [], None
    for m in other:  # one pass: most clauses hold a match or two
        category = m.entry.category
        if m.entry.role == "finding":
            findings.append(m)
        if category in ("degree", "degree_doubt"):
            degrees.append(m)
        elif category == "hedge_equivocal":
            equivocal.append(m)
        elif category == "hedge_leaning" and leaning is None:
            leaning = m
    findings = tuple(findings)
    found = background(text, other) if other else None
    history, background_cue = (None, None) if found is None else found
    for m in scope:
        if m.category == "thyroid_context" and any(f.start <= m.start and m.end <= f.end for f in findings):
            continue  # part of a finding's own name (甲状腺样组织, thyroid-like tissue)
        if in_span(m.start, history):
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
    return ClauseFacts(tuple(anchors), subject, region, outside, findings, leaning, tuple(degrees),
                       tuple(equivocal), history, any(m.category == "node_anchor" for m in scope), background_cue)


class ClauseMatches(NamedTuple):
    """The dictionary matches of one clause (offsets relative to the clause), read once."""

    language: str
    scope: tuple[Match, ...]
    other: tuple[Match, ...]
    conjunction: bool  # holds a coordinating conjunction (and / or / nor; 及 和 或 与 、)
    facts: ClauseFacts | None  # what the clause says whatever its neighbours (:func:`clause_facts`)


def clause_language(text: str) -> str:
    """'zh' when Chinese characters make up at least a fifth of the letters, else 'en'."""
    cjk = len(CJK.findall(text))
    if not cjk:
        return "en"
    latin = len(ASCII_LETTER.findall(text))
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
    has_cjk = language == "auto" and CJK.search(piece) is not None
    return [_clause_matches(piece, a, b, found, language, has_cjk, facts) for a, b in spans]


def _clause_matches(piece: str, a: int, b: int, found: Sequence[Match], language: str, has_cjk: bool,
                    facts: bool) -> ClauseMatches:
    text = piece[a:b]
    if found:
        mine = found if a == 0 and b == len(piece) else [  # a clause matched on its own: as found
            Match(m.start - a, m.end - a, m.text, m.entry, m.score) for m in found if a <= m.start and m.end <= b]
        scope, other = split_groups(mine)
    else:
        scope, other = (), ()
    lang = language if language != "auto" else (clause_language(text) if has_cjk else "en")
    conjunction = CONJUNCTION.search(text) is not None
    return ClauseMatches(lang, tuple(scope), tuple(other), conjunction,
                         clause_facts(lang, scope, other, text) if facts else None)


class LazyParts(Sequence):
    """What :func:`piece_clauses` gives, each clause's matches handed out when first asked:
    the assertion engine reads only the clauses a scope rule reaches."""

    def __init__(self, piece: str, found: Sequence[Match], language: str = "auto") -> None:
        self.piece = piece
        self.found = found
        self.language = language
        self.bounds = split_piece(piece)
        self.has_cjk = language == "auto" and CJK.search(piece) is not None
        self.made: dict[int, tuple[int, int, str, ClauseMatches]] = {}

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self.bounds)
        part = self.made.get(k)
        if part is None:
            a, b = self.bounds[k]
            separator = self.piece[a - 1] if a > 0 else ""
            part = self.made[k] = (a, b, "," if separator == "，" else separator,
                                   _clause_matches(self.piece, a, b, self.found, self.language, self.has_cjk,
                                                   False))
        return part


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
        has_cjk = CJK.search(piece) is not None
        use = [lang for lang, wanted in (("zh", has_cjk), ("en", not has_cjk or LATIN_WORD.search(piece)))
               if wanted and lang in matchers]
    else:
        use = [language]
    found: list[Match] = []
    for lang in use:
        found.extend(matchers[lang].find(piece))
    if exclude:
        found = [m for m in found if not any(m.start < e and s < m.end for s, e in exclude)]
    return [m for m in found if m.category not in _READ_IN_PLACE or context_cue_holds(piece, m)]


_READ_IN_PLACE = frozenset({"historical", "experiencer"})


def context_cue_holds(text: str, cue: Match) -> bool:
    """Whether a ConText cue means what its category says where it stands (English).

    * A past cue that is the object of a comparison names the old study, not the finding:
      "compared with the prior study, the node …", "larger than on the previous", "unchanged
      from prior", "since the previous examination".
    * A one-word kinship cue is a person only with a possessive before it or a person's verb,
      a preposition or the end of its phrase after it ("her mother", "mother had …", "relatives
      with …", "… in the mother."); "relative to prior", "a relative paucity", "daughter
      nodules" name no one.
    """
    if cue.entry.language != "en":
        return True
    if cue.category == "historical":
        return COMPARISON_BEFORE.search(text, max(0, cue.start - 60), cue.start) is None
    if " " in cue.text.strip() or not cue.text.isalpha():
        return True  # "family history", "family members": a person by their words
    return (PERSON_PRECEDES.search(text, max(0, cue.start - 20), cue.start) is not None
            or PERSON_FOLLOWS.match(text, cue.end) is not None)


def modifier_phrase_end(text: str, cue: Match) -> int:
    """Where a past cue's reach ends: a one-word past adjective (prior, previous, remote)
    reaches only the noun phrase it modifies, which ends at a verb or a modifier opener
    ("prior neck dissection | with a new node"); other cues (status post, history of, 既往)
    reach the end of the text."""
    if cue.entry.language != "en" or not cue.text.isalpha():
        return len(text)
    found = PHRASE_END.search(text, cue.end)
    return len(text) if found is None else found.start()


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
    opens_with_modifier: bool = False  # ", with C": a new modifier phrase, not a list item
    historical: tuple[Match, ...] = ()  # ConText cues by kind (pre: reach forward)
    historical_post: tuple[Match, ...] = ()
    hypothetical: tuple[Match, ...] = ()
    experiencer: tuple[Match, ...] = ()
    current: tuple[Match, ...] = ()
    history: tuple[Match, ...] = ()

    @property
    def cues(self) -> bool:
        return bool(self.pre or self.post or self.hedges or self.terminators or self.introducers)


def make_clause(start: int, end: int, separator: str, matches: ClauseMatches, text: str,
                targets_inside=()) -> Clause:
    """A :class:`Clause` from its matches (piece-relative); cues inside a target are left out."""
    kinds: dict[str, list[Match]] = {}
    asides = [(m.start() + start, m.end() + start) for m in PARENTHESIS.finditer(text[start:end])]
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
                  bool(kinds.get("history") or kinds.get("reasoning")), len(text[start:end].split()),
                  sum(1 for m in matches.other if m.entry.role == "finding"),
                  OPENING_CONJUNCTION.match(text, start) is not None,
                  OPENING_MODIFIER.match(text, start) is not None,
                  *(tuple(kinds.get(kind, ())) for kind in CONTEXT_CATEGORIES + ("history",)))


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

    def separator(self, k: int) -> str:
        """What ended the clause before clause ``k``, without making the clause."""
        clause = self.made.get(k)
        if clause is not None:
            return clause.separator
        bounds = getattr(self.parts, "bounds", None)
        if bounds is None:
            return self.parts[k][2]
        a = bounds[k][0]
        mark = self.piece[a - 1] if a > 0 else ""
        return "," if mark == "，" else mark

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


def split_piece(text: str) -> list[tuple[int, int]]:
    """(start, end) of the non-blank clauses of one piece."""
    spans, start = [], 0
    for m in CLAUSE_END.finditer(text):
        if m.start() > start and not text[start:m.start()].isspace():
            spans.append((start, m.start()))
        start = m.end()
    if start < len(text) and not text[start:].isspace():
        spans.append((start, len(text)))
    return spans


