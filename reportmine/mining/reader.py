"""Read pieces once: bounded memos over matching, clause reading and piece analysis.

Real reports repeat their sentences verbatim, and their clauses (边界清晰, 形态规整) even
more, so matching is memoised per distinct clause, reading per distinct piece and the
analysis per (piece, inherited subject).
"""

from __future__ import annotations

from .clauses import ClauseMatches, match_piece, piece_clauses
from .statements import ClauseReading, PieceAnalysis, analyse_piece, read_piece

_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")


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
            found = analyse_piece(self(piece, key), current, new_sentence)
            if len(self._analyses) >= self.cache_size:
                self._analyses.clear()
            self._analyses[memo_key] = found
        return found
