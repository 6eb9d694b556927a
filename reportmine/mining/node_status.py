"""Node-status semantics: when the concept is a node word, is an *abnormal node* asserted?

``reportmine context`` and :func:`reportmine.assertion` read a node concept (lymph node(s),
node, nodal, adenopathy, lymphadenopathy, LN, 淋巴结 …: the dictionary's ``node_anchor``
terms, as the head of the concept) by the state the sentence gives the node, not by
whether the node is mentioned:

* ``negated``: a negation reaches the node ("no lymphadenopathy"), or the node is called
  normal (normal, unremarkable, reactive, benign, within normal limits, non-enlarged,
  impalpable, tumour-free: ``benign_finding`` and ``node_status_normal`` terms, or an
  abnormal state word with a negating prefix: non-suspicious, nonpathologic), or an
  abnormal word on it is negated ("not enlarged", "negative for metastatic carcinoma",
  "free of tumour"), or a count of positive nodes is zero ("0/12");
* ``affirmed``: an abnormal word on it stands (enlarged, metastatic, suspicious features,
  palpable, "3 of 12 positive"), a double negation ("not unremarkable", "does not have the
  appearance of a normal node"), or nothing is said of its state ("a 14 mm node");
* ``possible``: a hedge reaches the node or its abnormal word ("possibly enlarged",
  "could be … or …"), or a degree word doubts its boundary ("borderline enlarged"; "mildly
  enlarged" stays affirmed).

Which node a state word is about: the nearest node word in its clause with no terminator
between (so "no abnormal findings apart from an enlarged node" leaves the node alone); in a
clause without one, the subject carried from before, else a node word in the next clause
("Nonpalpable, nontender cervical nodes"). A node word that is a section header ("LYMPH
NODES: …") is the subject of its whole line and takes the line's verdict. Any other concept
keeps the generic reading (a mention is affirmed unless a negation or hedge reaches it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .dictionary import Entry
from .grammar import (
    ADJECTIVE_GAP,
    CLAUSE_JOINERS,
    COORDINATORS_EN,
    COPULAS,
    DEGREE_GAP,
    NEGATING_PREFIXES,
    NODE_COUNT,
    RELATIVE_PRONOUNS,
)
from .matching import Match, split_groups
from .scope import hedge_cue, negation_cue

NORMAL_STATUS = frozenset({"benign_finding", "node_status_normal", "hilum_present"})
ABNORMAL_STATUS = frozenset({"malignant_finding", "suspicious_feature", "enlargement", "indeterminate_feature",
                             "hilum_absent", "hilum_unclear", "hypervascularity", "node_status_abnormal"})
# What the engine matches for a node concept besides its cues.
STATUS_CATEGORIES = NORMAL_STATUS | ABNORMAL_STATUS | {"node_anchor", "degree_doubt"}


# "non-suspicious", "nonpathologic", "unenlarged": a negating prefix on a word, hyphen or not
_PREFIXED_WORD = re.compile(rf"\b(?:{'|'.join(NEGATING_PREFIXES)})-?([A-Za-z]{{4,}})\b", re.IGNORECASE)
PREFIX_NORMAL = Entry("non- / un- + an abnormal state word", "node_status_normal", "en",
                      note="a negating prefix on an abnormal state word names a normal node", source="node_status.py")


def prefix_negations(piece: str, found: Sequence[Match], matcher) -> list[Match]:
    """Normal state words made by a negating prefix on an abnormal one ("non-suspicious",
    "nonpathologic", "unenlarged"), where the whole word is not a dictionary term itself
    (non-enlarged and nonenlarged are): English, for node concepts."""
    out = []
    for m in _PREFIXED_WORD.finditer(piece):
        if any(f.start <= m.start() and m.end() <= f.end for f in found):
            continue
        word = m.group(1)
        if any(x.start == 0 and x.end == len(word) and x.category in ABNORMAL_STATUS for x in matcher.find(word)):
            out.append(Match(m.start(), m.end(), m.group(0), PREFIX_NORMAL, 100.0))
    return out


def _modifies(gap: str) -> bool:
    """A word before a node word modifies it across ``gap``: nothing, or up to two adjectives
    with no joining word ("borderline | right | node"; not "borderline cardiomegaly and | nodes")."""
    return DEGREE_GAP.match(gap) is not None or (
        ADJECTIVE_GAP.match(gap) is not None and not any(w.lower() in _NOT_MODIFIERS for w in gap.split()))


def node_heads(dictionary, language: str) -> frozenset[str]:
    """The node words of a language (``node_anchor`` terms), lower case."""
    return frozenset(e.term.lower() for e in dictionary.for_language(language) if e.category == "node_anchor")


def is_node_concept(term: str, heads_en: frozenset[str], heads_zh: frozenset[str]) -> bool:
    """Whether ``term`` names a node: its head (an English term's last words) is a node word;
    in Chinese, a node word anywhere in it (淋巴结肿大)."""
    words = term.lower().split()
    if any(" ".join(words[-n:]) in heads_en for n in range(1, min(3, len(words)) + 1)):
        return True
    return any(head in term for head in heads_zh if not head.isascii())


class _Piece:
    """Positions in one piece: its clauses and terminators."""

    def __init__(self, clauses, bounds: Sequence[tuple[int, int]], found: Sequence[Match]) -> None:
        self.clauses = clauses
        self.bounds = bounds
        self.terminators = [m for m in found if m.category == "terminator"]
        self.found = found

    def clause_of(self, position: int) -> int:
        return next((i for i, (_, b) in enumerate(self.bounds) if position < b), len(self.bounds) - 1)

    def cut(self, lo: int, hi: int) -> bool:
        """A terminator between ``lo`` and ``hi`` (other than, except, but …)."""
        return any(lo <= t.start and t.end <= hi for t in self.terminators)


def _owner(word: tuple[int, int], anchors: Sequence[tuple[int, int]], piece: _Piece):
    """The node word a state word (or count) at ``word`` is about, or None."""
    start, end = word
    candidates = [a for a in anchors if not (start <= a[0] and a[1] <= end)]  # "normal lymph node"
    k = piece.clause_of(start)

    def reachable(a):
        return not piece.cut(min(end, a[1]), max(start, a[0]))

    same = [a for a in candidates if piece.clause_of(a[0]) == k and reachable(a)]
    if same:
        return min(same, key=lambda a: abs(a[0] - start))
    before = [a for a in candidates if a[1] <= start and reachable(a)]
    if before:
        return max(before)
    after = [a for a in candidates if a[0] >= end and piece.clause_of(a[0]) == k + 1 and reachable(a)
             and piece.clauses[k + 1].separator == ","]
    return min(after) if after else None


def _state(m: Match, piece: _Piece, text: str, degrees: Sequence[Match]) -> tuple[str, Match | None]:
    """normal | abnormal | possible for one state word, with the cue that turned it."""
    k = piece.clause_of(m.start)
    negator = negation_cue(piece.clauses, k, m.start, m.end, text)
    if m.category in NORMAL_STATUS:
        return ("abnormal", negator) if negator is not None else ("normal", m)
    if negator is not None:
        return "normal", negator
    hedge = hedge_cue(piece.clauses, k, m.start, m.end, text)
    if hedge is not None and _governs_state(hedge, (m.start, m.end), piece.found, piece.bounds):
        hedge = None  # "enlarged nodes which are likely reactive": the hedge doubts the nature
    if hedge is not None:
        return "possible", hedge
    degree = next((d for d in degrees if d.end <= m.start and DEGREE_GAP.match(text[d.end:m.start])), None)
    if degree is not None:
        return "possible", degree
    return "abnormal", None


def _governs_state(cue: Match | None, target: tuple[int, int], found: Sequence[Match], bounds) -> bool:
    """A hedge after the concept with a state word after it in the same clause: it governs that
    word ("node, likely reactive"; "node, which may be reactive or metastatic")."""
    if cue is None or cue.start < target[1]:
        return False
    end = next((b for a, b in bounds if a <= cue.start < b), cue.end)
    return any(cue.end <= m.start < end and (m.category in NORMAL_STATUS or m.category in ABNORMAL_STATUS)
               for m in found)


# words that join or state, so what stands before them is no adjective of the node word
_NOT_MODIFIERS = frozenset(COORDINATORS_EN + CLAUSE_JOINERS + COPULAS + RELATIVE_PRONOUNS)


def _adjective_negation(target: tuple[int, int], found: Sequence[Match], text: str) -> Match | None:
    """A post-negation used as an adjective right before the node word, with at most two
    words between and no cue ("negative lymph nodes", "… and negative axillary nodes")."""
    for m in found:
        if m.category == "negation_post" and m.end <= target[0]:
            gap = text[m.end:target[0]]
            words = gap.lower().split()
            if len(words) <= 2 and ADJECTIVE_GAP.match(gap) and not set(words) & _NOT_MODIFIERS \
                    and not any(m.end <= o.start < target[0] for o in found):
                return m
    return None


def node_status(clauses, bounds, target: tuple[int, int], text: str, found: Sequence[Match],
                generic: tuple[str, Match | None], *, header: bool = False,
                own: Sequence[Match] = ()) -> tuple[str, Match | None]:
    """The status of a node concept at ``target`` in a piece (see the module doc).

    ``found``: the piece's matches, none overlapping the concept; ``own``: state words that
    hold the concept ("enlarged lymph nodes" around "lymph nodes", or "lymphadenopathy"
    itself), which are its own. ``generic``: the status and cue of the generic reading (a
    negation or hedge reaching the concept itself), which stands when it says negated, or
    possible unless the hedge stands after the concept and governs a state word ("adenopathy,
    likely reactive": the hedge doubts the nature, not the node).

    A concept that itself names an abnormal node (lymphadenopathy, adenopathy, enlarged
    nodes) stays affirmed when called reactive or benign: only a negation or a negated
    abnormal word takes it back.
    """
    status, cue = generic
    scope, found = split_groups(found)
    if status == "negated" or status == "possible" and not _governs_state(cue, target, found, bounds):
        return status, cue
    piece = _Piece(clauses, bounds, found)
    anchors = [(m.start, m.end) for m in scope if m.category == "node_anchor"] + [target]

    def mine(span) -> bool:
        return header or span[0] <= target[0] and target[1] <= span[1] or _owner(span, anchors, piece) == target

    before = _adjective_negation(target, found, text)
    if before is not None:
        return "negated", before
    for m in NODE_COUNT.finditer(text):
        if int(m.group(1)) == 0 and int(m.group(2)) > 0 and mine(m.span()):
            return "negated", Match(m.start(), m.end(), m.group(0), None, 100.0)
    degrees = [m for m in found if m.category == "degree_doubt"]  # borderline (mildly enlarged stays)
    itself_abnormal = any(m.category in ABNORMAL_STATUS for m in own)
    states = [_state(m, piece, text, degrees) for m in (*found, *own)
              if (m.category in NORMAL_STATUS or m.category in ABNORMAL_STATUS) and mine((m.start, m.end))
              and not (itself_abnormal and m.category in NORMAL_STATUS)]
    for wanted, answer in (("abnormal", "affirmed"), ("possible", "possible"), ("normal", "negated")):
        found_state = next((c for s, c in states if s == wanted), False)
        if found_state is not False:
            return answer, (found_state if answer != "affirmed" else None)
    # no state word: a doubting degree word on the node itself ("a borderline node", 临界淋巴结)
    degree = next((d for d in degrees if d.end <= target[0] and _modifies(text[d.end:target[0]])), None)
    if degree is not None and status == "affirmed":
        return "possible", degree
    return status, cue
