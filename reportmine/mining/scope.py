"""Cue scope: which negation or hedge reaches a target in a piece's clauses.

NegEx/ConText's model, with scopes that follow the sentence rather than the comma:

* A pre-negation (:func:`pre_cue`) covers the rest of its clause and a comma-separated
  list of findings after it; it stops at a terminator (but, other than, except, 但, 除…外,
  伴), at a conjunction that introduces a new finding ("and with", "and shows"), at a new
  subject ("… and he is …") and at a closing parenthesis.
* A post-negation (:func:`post_cue`) reaches back within its clause, across a header colon
  ("Lymphadenopathy: not seen") and over a list ("A, B and C are absent").
* A negation standing alone at the start of its clause also reaches forward, one standing
  at its end also reaches back.
* A hedge (:func:`hedge_cue`) covers its clause up to a terminator, and a list after it.

The same rules serve the report classifier (:mod:`reportmine.mining.statements`) and the
assertion engine (:mod:`reportmine.mining.assertion`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .clauses import Clause
from .grammar import (
    CAUSE_CONNECTOR,
    CAUSE_NOUN_BEFORE,
    CAUSE_NOUN_NEXT,
    COPULA,
    GOVERNING_END,
    LINK_BEFORE,
    NEW_SUBJECT,
    OPENING_COPULA,
    QUIET,
    RELATIVE_NEGATED,
)
from .matching import Match


def _breaks(clause: Clause, lo: int, hi: int, text: str) -> bool:
    """Whether a scope running from ``lo`` to ``hi`` inside ``clause`` is cut: by a terminator,
    or by a conjunction that introduces a new finding ("… and with Y", "… and shows Y")."""
    if any(lo <= t.start and t.end <= hi for t in clause.terminators):
        return True
    between = text[lo:hi]
    if ")" in between.split("(")[0] or NEW_SUBJECT.search(between):
        return True  # a parenthesis closes, or "… and he is …" starts a new subject
    return any(lo <= i.start and i.end <= hi and LINK_BEFORE.search(text[lo:i.start])
               for i in clause.introducers)


def _leaves_relative_clause(clause: Clause, cue: Match, start: int, text: str) -> bool:
    """A verb negation inside a relative clause does not reach the main verb's words after it:
    "a node that has not been biopsied | is enlarged" (a relative pronoun and auxiliaries right
    before the cue, a finite copula between the cue and the target). A determiner ("that no
    node is enlarged or necrotic") is no verb negation."""
    return cue.text.lower() in ("not", "never") and \
        RELATIVE_NEGATED.search(text[clause.start:cue.start]) is not None and \
        COPULA.search(text, cue.end, start) is not None


def _bare(clause: Clause) -> bool:
    """A list item: no cue of its own (no negation, hedge, terminator or introducing verb)
    outside a parenthesis ("bleeding (occult nor overt)" is still one item)."""
    return not clause.cues and not clause.background and not clause.opens_with_modifier


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
            return None if _breaks(clause, cue.end, start, text) or _leaves_relative_clause(clause, cue, start, text) \
                else cue
    if clause.language != "en" or clause.separator != "," or not _bare_before(clause, start) \
            or clause.opens_with_modifier or OPENING_COPULA.match(text, clause.start):
        return None  # ", with Z": a new modifier phrase is no item of the negated list; ", is Z": a predicate
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
            if forward and quiet_before(clause, c.start, text) or \
                    not forward and QUIET.match(text[c.end:clause.end]) is not None:
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
    verdict = verdict_cue(following, kinds, text)
    if verdict is not None:
        return verdict  # "Lymphadenopathy: not seen"; "Small bowel obstruction, resolved"
    if clause.language == "en" and following.separator == "," and _bare(clause) \
            and not COPULA.search(text[clause.start:clause.end]):
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


def verdict_cue(following: Clause, kinds, text: str) -> Match | None:
    """The cue of a bare verdict clause on the clause before it: after a header colon, or after
    a comma when nothing but the cue stands in it ("Lymphadenopathy: not seen"; "Small bowel
    obstruction, resolved"; "淋巴结，性质待定")."""
    cues = sorted(_cues(following, kinds, text, forward=False))
    if cues and quiet_before(following, cues[0].start, text) and (
            following.separator in (":", "：")
            or following.separator == "," and QUIET.match(text[cues[0].end:following.end])):
        return cues[0]
    return None


def quiet_before(clause: Clause, position: int, text: str) -> bool:
    """Only spaces and brackets before ``position`` in the clause (a bare verdict)."""
    return QUIET.match(text[clause.start:position]) is not None


def hedge_cue(clauses: Sequence[Clause], k: int, start: int, end: int, text: str) -> Match | None:
    """A hedge over a target: in its clause with no terminator between, or a list's pre-hedge.

    A hedge after the target reaches back to it only when it doubts the target itself: not
    when it governs the phrase after it ("lymphadenopathy consistent with sarcoidosis") nor
    when a cause or another finding stands between ("adenopathy from infection versus
    sarcoid", "lymphadenopathy of uncertain etiology"): then it doubts the cause.
    """
    clause = clauses[k]
    # a hedge after the target that governs the phrase after it ("consistent with"): a later
    # hedge in that phrase doubts what it governs ("adenopathy consistent with lymphoma versus
    # sarcoidosis")
    governed = min((c.end for c in clause.hedges if c.start >= end and GOVERNING_END.search(text[c.start:c.end])),
                   default=None)
    for cue in clause.hedges:
        lo, hi = (cue.end, start) if cue.end <= start else (end, cue.start)
        if cue.start >= end and (GOVERNING_END.search(text[cue.start:cue.end])
                                 or governed is not None and cue.start >= governed
                                 or CAUSE_CONNECTOR.search(text[lo:hi])
                                 or CAUSE_NOUN_NEXT.match(text, cue.end)
                                 or CAUSE_NOUN_BEFORE.search(text, lo, cue.start)):
            continue
        if not any(lo <= t.start and t.end <= hi for t in clause.terminators):
            return cue
    if clause.hedges:
        return None
    cue = pre_cue(clauses, k, start, text, ("hedges",))
    if cue is None and k + 1 < len(clauses):
        cue = verdict_cue(clauses[k + 1], ("hedges",), text)  # "左颈部淋巴结，性质待定"; "Node: indeterminate"
    return cue


def negation_cue(clauses: Sequence[Clause], k: int, start: int, end: int, text: str) -> Match | None:
    return pre_cue(clauses, k, start, text) or post_cue(clauses, k, end, text)

