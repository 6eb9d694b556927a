"""ConText's temporality and experiencer: is a mention about now, and about the patient?

The cues are data (dictionary categories ``historical``, ``historical_post``, ``history``,
``hypothetical``, ``experiencer`` and ``current``, English and Chinese, each with a note)
and their scope follows the same rules as negation (:mod:`reportmine.mining.scope`):

* **historical**: a cue before the concept reaches it within its clause and over a list
  (history of, status post, previous, prior, 既往); a cue after it reaches back within its
  clause (in the past, years ago, 术后, …史). ``history`` cues read as a past mention before
  the concept in English ("history of X") and after it in Chinese (X病史). A ``current`` cue
  between (now, currently, 目前, 本次) ends the scope: "history of X, now with Y".
* **hypothetical**: a cue before the concept (if, should, in case of, 如有, 若, 建议).
* **experiencer** other: a cue anywhere in the concept's clause, a list after one, or a
  section header naming one ("家族史：父亲患淋巴瘤", "Family history: lymphoma in the mother").
  A historical header covers its line too ("PMH: hypertension, diabetes, and CAD").

A mention is ``recent`` and about the ``patient`` unless a cue reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .clauses import Clause, modifier_phrase_end
from .matching import Match
from .scope import post_cue, pre_cue

TEMPORALITIES = ("recent", "historical", "hypothetical")
EXPERIENCERS = ("patient", "other")


class Properties(NamedTuple):
    temporality: str = "recent"
    temporality_cue: Match | None = None
    experiencer: str = "patient"
    experiencer_cue: Match | None = None


def _header_cue(clauses: Sequence[Clause], k: int, kinds) -> Match | None:
    """A cue of ``kinds`` in a section header that the clause belongs to: "PMH: A, B, and C",
    "家族史：父亲患淋巴瘤" (back over the list items and one header colon)."""
    separator = getattr(clauses, "separator", lambda i: clauses[i].separator)  # no clause built for it
    j = k
    while j > 0 and separator(j) in (",", ":", "："):
        if separator(j) in (":", "："):
            header = clauses[j - 1]
            cues = [c for kind in kinds for c in getattr(header, kind)]
            return max(cues, key=lambda c: c.end) if cues and not header.terminators else None
        j -= 1
    return None


def _current_between(clause: Clause, lo: int, hi: int) -> bool:
    return any(lo <= c.start and c.end <= hi for c in clause.current)


def temporality(clauses: Sequence[Clause], k: int, start: int, end: int, text: str,
                present=None) -> tuple[str, Match | None]:
    """recent | historical | hypothetical for a target at ``start:end`` in clause ``k``, with its cue.
    ``present``: the cue categories of the piece, when known (a kind absent is not looked for)."""
    clause = clauses[k]

    def some(kinds) -> bool:
        return present is None or any(kind in present for kind in kinds)

    cue = pre_cue(clauses, k, start, text, ("hypothetical",)) if some(("hypothetical",)) else None
    if cue is not None:
        return "hypothetical", cue
    history_forward = ("historical", "history") if clause.language == "en" else ("historical",)
    history_back = ("historical_post",) if clause.language == "en" else ("historical_post", "history")
    if not some(history_forward + history_back):
        return "recent", None
    cue = pre_cue(clauses, k, start, text, history_forward) if some(history_forward) else None
    if cue is not None and not _current_between(clause, cue.end, start) and (
            cue.category != "historical" or modifier_phrase_end(text, cue) >= start):
        return "historical", cue
    cue = post_cue(clauses, k, end, text, history_back) if some(history_back) else None
    if cue is not None and not _current_between(clause, end, cue.start):
        return "historical", cue
    cue = _header_cue(clauses, k, history_forward) if some(history_forward) else None
    if cue is not None and not _current_between(clause, clause.start, start):
        return "historical", cue
    return "recent", None


def experiencer(clauses: Sequence[Clause], k: int, start: int, end: int, text: str) -> tuple[str, Match | None]:
    """patient | other for a target in clause ``k``, with its cue."""
    clause = clauses[k]
    if clause.experiencer:
        return "other", min(clause.experiencer, key=lambda c: abs(c.start - start))
    cue = pre_cue(clauses, k, start, text, ("experiencer",)) or _header_cue(clauses, k, ("experiencer",))
    return ("other", cue) if cue is not None else ("patient", None)


_TEMPORAL = frozenset({"historical", "historical_post", "history", "hypothetical"})


def properties(clauses: Sequence[Clause], k: int, start: int, end: int, text: str,
               present=None) -> Properties:
    """Both properties of a target; ``present``: the cue categories of the piece, when known
    (a property with no cue in the piece is not looked for)."""
    when, when_cue = ("recent", None) if present is not None and not present & _TEMPORAL \
        else temporality(clauses, k, start, end, text, present)
    who, who_cue = ("patient", None) if present is not None and "experiencer" not in present \
        else experiencer(clauses, k, start, end, text)
    return Properties(when, when_cue, who, who_cue)
