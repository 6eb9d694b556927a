"""Is a clinical concept affirmed, negated or possible in a text? The negation engine on its own.

    from reportmine import assertion
    assertion("Lungs: no wheezes, rales, or crackles.", "crackles").status   # 'negated'

The concept (``term``) is found in the text case-insensitively with whitespace normalised;
the sentence around it is split into clauses and every cue of the dictionaries (negations,
pseudo-negations, hedges, terminators, verbs that introduce a finding) is matched, exactly
as the report classifier does (:mod:`reportmine.mining.scope`): the same scope rules decide
whether a negation or a hedge reaches the concept. A cue inside the concept itself ("no
acute distress" as the concept) is part of it and does not negate it.

``reportmine context FILE --text-col COL --term-col COL`` runs it on every row of a table
(:func:`reportmine.mining.context_table.context_file`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .clauses import (
    CONTEXT_CATEGORIES,
    HEDGES,
    NEGATIONS,
    LazyClauses,
    LazyParts,
    find_in_piece,
)
from .dictionary import Dictionary, load_dictionary
from .grammar import NODE_COUNT, PIECE_END
from .matching import ChineseMatcher, EnglishMatcher, split_groups
from .node_status import (
    STATUS_CATEGORIES,
    is_node_concept,
    node_heads,
    node_status,
    prefix_negations,
)
from .properties import properties
from .scope import hedge_cue, negation_cue

log = logging.getLogger(__name__)

STATUSES = ("affirmed", "negated", "possible")
CONTEXT_COLUMNS = ("status", "cue", "cue_span", "term_span", "found", "temporality", "temporality_cue",
                   "experiencer", "experiencer_cue")
# The dictionary categories the engine reads (findings and scope words are not needed, but
# for a node concept the words that give a node's state are: :mod:`.node_status`).
CUE_CATEGORIES = frozenset({"negation_pre", "negation_post", "pseudo", "hedge_leaning", "hedge_equivocal",
                            "terminator", "introducer", "history", "reasoning", *CONTEXT_CATEGORIES})
# The cues that give a status or a property; a piece without one leaves every concept affirmed,
# recent and the patient's (pseudo-cues, terminators and introducers only limit their scope).
SCOPED_CUES = frozenset(NEGATIONS + HEDGES + CONTEXT_CATEGORIES + ("history",)) - {"current"}
_STATUS_CUES = frozenset(NEGATIONS + HEDGES)
# A node concept's state words give a status too, and a doubting degree word on a concept that
# itself names an abnormal node ("borderline lymphadenopathy") makes it possible.
NODE_CUES = SCOPED_CUES | (STATUS_CATEGORIES - {"node_anchor"})


@dataclass(frozen=True)
class Assertion:
    """The status of one concept in one text, with the cue that decided it."""

    status: str  # affirmed | negated | possible ("" when the term is not in the text)
    cue: str = ""  # the cue as written in the text
    cue_span: tuple[int, int] | None = None  # character offsets into the text
    term_span: tuple[int, int] | None = None
    found: bool = True
    term: str = ""
    temporality: str = "recent"  # recent | historical | hypothetical ("" when not found)
    temporality_cue: str = ""
    temporality_cue_span: tuple[int, int] | None = None
    experiencer: str = "patient"  # patient | other ("" when not found)
    experiencer_cue: str = ""
    experiencer_cue_span: tuple[int, int] | None = None

    def summary(self) -> str:
        if not self.found:
            return f"{self.term!r}: not found in the text"
        where = f" at {self.term_span[0]}:{self.term_span[1]}"
        if not self.cue:
            text = f"{self.term!r}{where}: {self.status} (no cue reaches it)"
        else:
            text = (f"{self.term!r}{where}: {self.status} by \u2018{self.cue}\u2019 "
                    f"at {self.cue_span[0]}:{self.cue_span[1]}")
        if self.temporality_cue:
            text += f"; {self.temporality} by \u2018{self.temporality_cue}\u2019"
        if self.experiencer_cue:
            text += f"; experiencer {self.experiencer} by \u2018{self.experiencer_cue}\u2019"
        return text

    def row(self) -> dict[str, object]:
        """The output columns of ``reportmine context``."""
        return {"status": self.status, "cue": self.cue, "cue_span": _span_text(self.cue_span),
                "term_span": _span_text(self.term_span), "found": self.found,
                "temporality": self.temporality, "temporality_cue": self.temporality_cue,
                "experiencer": self.experiencer, "experiencer_cue": self.experiencer_cue}


def _span_text(span: tuple[int, int] | None) -> str:
    return f"{span[0]}:{span[1]}" if span else ""


def find_term(text: str, term: str) -> tuple[int, int] | None:
    """The first mention of ``term`` in ``text``: case-insensitive, any run of whitespace
    standing for any other (the term may be written "staph   bacteremia"). A mention that is a
    whole word is preferred to one inside a longer word ("node" is not the one in "lymph
    nodes" when "a node" follows), and a section header ("ALLERGIES: no known allergies") is
    skipped when there is another of the same kind."""
    words = term.lower().split()
    if not words:
        return None
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is longer (İ): keep offsets aligned
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    best, best_rank = None, 4
    pos = lowered.find(words[0])
    while pos >= 0:
        end = _match_rest(lowered, pos + len(words[0]), words[1:])
        if end is not None:
            inside = (pos > 0 and _latin(lowered[pos - 1]) and _latin(lowered[pos])) or \
                (end < len(lowered) and _latin(lowered[end]) and _latin(lowered[end - 1]))
            rank = 2 * inside + (_HEADER_AFTER.match(text, end) is not None)
            if rank == 0:
                return pos, end
            if rank < best_rank:
                best, best_rank = (pos, end), rank
        pos = lowered.find(words[0], pos + 1)
    return best


def _latin(ch: str) -> bool:
    """A letter or digit of a spaced script: Chinese has no word boundaries to prefer."""
    return ch.isalnum() and (ch.isascii() or not ("\u2e80" <= ch <= "\u9fff"))


def _match_rest(lowered: str, pos: int, words: list[str]) -> int | None:
    for word in words:
        gap = pos
        while gap < len(lowered) and lowered[gap].isspace():
            gap += 1
        if gap == pos or not lowered.startswith(word, gap):
            return None
        pos = gap + len(word)
    return pos


_HEADER_AFTER = re.compile(r"\s*:")


def sentence_bounds(text: str, position: int) -> tuple[int, int]:
    """The piece (sentence or semicolon part) holding ``position``. A '.' ends a sentence only
    before a space or the end (not in 1.5 cm, b.i.d., Dr.Smith)."""
    start, end = 0, len(text)
    for m in PIECE_END.finditer(text):
        pos = m.start()
        if text[pos] == "." and pos + 1 < len(text) and not text[pos + 1].isspace():
            continue
        if pos < position:
            start = pos + 1
        else:
            end = pos
            break
    return start, end


@dataclass
class AssertionEngine:
    """Configured engine; build once, call :meth:`__call__` for each (text, term)."""

    dictionary: Dictionary | str | Path | None = None
    language: str = "auto"
    _matchers: dict = field(default_factory=dict, init=False, repr=False)
    _node_matchers: dict = field(default_factory=dict, init=False, repr=False)
    # every match of a piece, before a concept's own words are left out: a text is often
    # asked about several concepts (bounded; cleared when full)
    _memo: dict = field(default_factory=dict, init=False, repr=False)
    _node_terms: dict = field(default_factory=dict, init=False, repr=False)  # term -> is a node concept
    _heads: tuple = field(default=(frozenset(), frozenset()), init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.dictionary, Dictionary):
            self.dictionary = load_dictionary(self.dictionary)
        if self.language not in ("auto", "en", "zh"):
            raise ValueError(f"language must be auto, en or zh, got {self.language!r}")
        for lang in ("en", "zh") if self.language == "auto" else (self.language,):
            entries = [e for e in self.dictionary.for_language(lang) if e.category in CUE_CATEGORIES]
            self._matchers[lang] = EnglishMatcher(entries) if lang == "en" else ChineseMatcher(entries)
            entries = [e for e in self.dictionary.for_language(lang)
                       if e.category in CUE_CATEGORIES or e.category in STATUS_CATEGORIES]
            self._node_matchers[lang] = EnglishMatcher(entries) if lang == "en" else ChineseMatcher(entries)
        self._heads = (node_heads(self.dictionary, "en"), node_heads(self.dictionary, "zh"))

    def config(self) -> dict[str, object]:
        return {"language": self.language, "dictionary": ";".join(self.dictionary.paths)}

    def __call__(self, text, term) -> Assertion:
        if not isinstance(text, str) or not isinstance(term, str) or not term.strip():
            return Assertion("", found=False, term=term if isinstance(term, str) else "", temporality="",
                             experiencer="")
        span = find_term(text, term)
        if span is None:
            return Assertion("", found=False, term=term, temporality="", experiencer="")
        return self.at(text, span, term)

    def at(self, text: str, span: tuple[int, int], term: str | None = None) -> Assertion:
        """The assertion of the concept at ``span`` in ``text`` (a span found by another tool,
        such as a spaCy entity); ``term`` defaults to the text of the span."""
        term = text[span[0]:span[1]] if term is None else term
        lo, hi = sentence_bounds(text, span[0])
        piece = text[lo:hi]
        target = (span[0] - lo, span[1] - lo)
        node = self._node_terms.get(term)
        if node is None:
            if len(self._node_terms) >= 10_000:
                self._node_terms.clear()
            node = self._node_terms[term] = is_node_concept(term, *self._heads)
        matchers = self._node_matchers if node else self._matchers
        everything = self._memo.get((piece, node))
        if everything is None:
            if len(self._memo) >= 10_000:
                self._memo.clear()
            everything = find_in_piece(piece, matchers, self.language)
            if node and "en" in matchers:
                everything += prefix_negations(piece, everything, matchers["en"])
            self._memo[piece, node] = everything
        found = [m for m in everything if not (m.start < target[1] and target[0] < m.end)]
        present = {m.category for m in found}
        if not present & (NODE_CUES if node else SCOPED_CUES) and (not node or NODE_COUNT.search(piece) is None):
            return Assertion("affirmed", term_span=span, term=term)  # nothing that could reach it
        parts = LazyParts(piece, found, self.language)
        clauses = LazyClauses(parts, piece, [target])
        if not len(clauses):
            return Assertion("affirmed", term_span=span, term=term)
        bounds = parts.bounds
        k = next((i for i, (_, b) in enumerate(bounds) if target[0] < b), len(bounds) - 1)
        if target[1] > bounds[k][1]:
            # a term running over a comma or colon ("pain, chest"): read it in its last clause
            k = max(i for i, (a, _) in enumerate(bounds) if a < target[1])
        status, cue = "affirmed", None
        if present & _STATUS_CUES:  # a sentence with only a history cue needs no negation scope
            cue = negation_cue(clauses, k, *target, piece)
            status = "negated"
            if cue is None:
                cue = hedge_cue(clauses, k, *target, piece)
                status = "possible" if cue is not None else "affirmed"
        if node:
            header = not piece[:target[0]].strip() and _HEADER_AFTER.match(text, span[1]) is not None
            own = [m for m in split_groups(everything)[1] if m.start <= target[0] and target[1] <= m.end]
            status, cue = node_status(clauses, bounds, target, piece, found, (status, cue), header=header,
                                      own=own)
        when = properties(clauses, k, *target, piece, present)

        def placed(m):
            return (m.text if m.entry is None else text[m.start + lo:m.end + lo]), (m.start + lo, m.end + lo)

        cue_text, cue_span = placed(cue) if cue is not None else ("", None)
        when_text, when_span = placed(when.temporality_cue) if when.temporality_cue is not None else ("", None)
        who_text, who_span = placed(when.experiencer_cue) if when.experiencer_cue is not None else ("", None)
        return Assertion(status, cue_text, cue_span, span, True, term, when.temporality, when_text, when_span,
                         when.experiencer, who_text, who_span)


@lru_cache(maxsize=4)
def _default_engine(dictionary: str | None, language: str) -> AssertionEngine:
    return AssertionEngine(dictionary, language)


def assertion(text: str, term: str, *, language: str = "auto", dictionary: str | None = None) -> Assertion:
    """The status of ``term`` in ``text`` (affirmed / negated / possible) with its cue.

    Uses a shared engine per (dictionary, language); build an :class:`AssertionEngine` to
    hold one yourself.
    """
    return _default_engine(None if dictionary is None else str(dictionary), language)(text, term)


class _CallableModule(type(re)):
    """``reportmine.assertion(text, term)`` calls :func:`assertion` (the module is callable)."""

    def __call__(self, text: str, term: str, **options) -> Assertion:
        return assertion(text, term, **options)


import sys  # noqa: E402  (only for making the module callable)

sys.modules[__name__].__class__ = _CallableModule
