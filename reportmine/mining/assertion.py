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

from .clauses import HEDGES, NEGATIONS, LazyClauses, find_in_piece, piece_clauses
from .dictionary import Dictionary, load_dictionary
from .grammar import PIECE_END
from .matching import ChineseMatcher, EnglishMatcher
from .scope import hedge_cue, negation_cue

log = logging.getLogger(__name__)

STATUSES = ("affirmed", "negated", "possible")
CONTEXT_COLUMNS = ("status", "cue", "cue_span", "term_span", "found")
# The dictionary categories the engine reads (findings and scope words are not needed).
CUE_CATEGORIES = frozenset({"negation_pre", "negation_post", "pseudo", "hedge_leaning", "hedge_equivocal",
                            "terminator", "introducer"})
# The cues that give a status; a piece without one leaves every concept affirmed (pseudo-cues,
# terminators and introducers only limit the scope of these).
SCOPED_CUES = frozenset(NEGATIONS + HEDGES)


@dataclass(frozen=True)
class Assertion:
    """The status of one concept in one text, with the cue that decided it."""

    status: str  # affirmed | negated | possible ("" when the term is not in the text)
    cue: str = ""  # the cue as written in the text
    cue_span: tuple[int, int] | None = None  # character offsets into the text
    term_span: tuple[int, int] | None = None
    found: bool = True
    term: str = ""

    def summary(self) -> str:
        if not self.found:
            return f"{self.term!r}: not found in the text"
        where = f" at {self.term_span[0]}:{self.term_span[1]}"
        if not self.cue:
            return f"{self.term!r}{where}: {self.status} (no cue reaches it)"
        return (f"{self.term!r}{where}: {self.status} by \u2018{self.cue}\u2019 "
                f"at {self.cue_span[0]}:{self.cue_span[1]}")

    def row(self) -> dict[str, object]:
        """The output columns of ``reportmine context``."""
        return {"status": self.status, "cue": self.cue, "cue_span": _span_text(self.cue_span),
                "term_span": _span_text(self.term_span), "found": self.found}


def _span_text(span: tuple[int, int] | None) -> str:
    return f"{span[0]}:{span[1]}" if span else ""


def find_term(text: str, term: str) -> tuple[int, int] | None:
    """The first mention of ``term`` in ``text``: case-insensitive, any run of whitespace
    standing for any other (the term may be written "staph   bacteremia"). An occurrence that
    is a section header ("ALLERGIES: no known allergies") is skipped when there is another."""
    words = term.lower().split()
    if not words:
        return None
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter whose lower case is longer (İ): keep offsets aligned
        lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    found = []
    pos = lowered.find(words[0])
    while pos >= 0:
        end = _match_rest(lowered, pos + len(words[0]), words[1:])
        if end is not None:
            found.append((pos, end))
            if not _HEADER_AFTER.match(text, end):
                return pos, end
        pos = lowered.find(words[0], pos + 1)
    return found[0] if found else None


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

    def __post_init__(self) -> None:
        if not isinstance(self.dictionary, Dictionary):
            self.dictionary = load_dictionary(self.dictionary)
        if self.language not in ("auto", "en", "zh"):
            raise ValueError(f"language must be auto, en or zh, got {self.language!r}")
        for lang in ("en", "zh") if self.language == "auto" else (self.language,):
            entries = [e for e in self.dictionary.for_language(lang) if e.category in CUE_CATEGORIES]
            self._matchers[lang] = EnglishMatcher(entries) if lang == "en" else ChineseMatcher(entries)

    def config(self) -> dict[str, object]:
        return {"language": self.language, "dictionary": ";".join(self.dictionary.paths)}

    def __call__(self, text, term) -> Assertion:
        if not isinstance(text, str) or not isinstance(term, str) or not term.strip():
            return Assertion("", found=False, term=term if isinstance(term, str) else "")
        span = find_term(text, term)
        if span is None:
            return Assertion("", found=False, term=term)
        lo, hi = sentence_bounds(text, span[0])
        piece = text[lo:hi]
        target = (span[0] - lo, span[1] - lo)
        found = find_in_piece(piece, self._matchers, self.language, [target])
        if not any(m.category in SCOPED_CUES for m in found):
            return Assertion("affirmed", term_span=span, term=term)  # nothing that could reach it
        clauses = LazyClauses(piece_clauses(piece, self._matchers, self.language, [target], facts=False,
                                            found=found), piece, [target])
        if not len(clauses):
            return Assertion("affirmed", term_span=span, term=term)
        bounds = [(a, b) for a, b, _, _ in clauses.parts]
        k = next((i for i, (_, b) in enumerate(bounds) if target[0] < b), len(bounds) - 1)
        if target[1] > bounds[k][1]:
            # a term running over a comma or colon ("pain, chest"): read it in its last clause
            k = max(i for i, (a, _) in enumerate(bounds) if a < target[1])
        cue = negation_cue(clauses, k, *target, piece)
        status = "negated"
        if cue is None:
            cue = hedge_cue(clauses, k, *target, piece)
            status = "possible" if cue is not None else "affirmed"
        if cue is None:
            return Assertion(status, term_span=span, term=term)
        return Assertion(status, text[cue.start + lo:cue.end + lo], (cue.start + lo, cue.end + lo), span, True, term)


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
