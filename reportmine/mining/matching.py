"""Find dictionary terms in report text: exact and fuzzy, English and Chinese.

English is cut into word and punctuation tokens (one compiled regular expression) and terms
are matched against token n-grams; Chinese is matched on characters (no word segmentation
is needed, and none can go wrong). Fuzzy entries are scored with rapidfuzz's ``ratio``,
each window only against the terms it could reach (same token count, a shared first or last
letter, a length within the term's minimum score), and each distinct window once per matcher
(words recur from report to report, so a cold run scores most of them once);
abbreviations are exact entries and are never fuzzed.

All spans are character offsets into the *original* text, so every match can
be shown to a reader exactly where it was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

from rapidfuzz import fuzz

from .dictionary import Entry
from .grammar import AUXILIARIES_AFTER_NOT, NEGATING_PREFIXES

# Quotes, brackets of emphasis and spaces carry no meaning inside Chinese terms
# ("淋巴门"结构 reads as 淋巴门结构), so they are dropped before matching Chinese.
_ZH_DROP = set("“”\"'‘’「」『』《》 \t\u3000")
# Scope categories may overlap findings (淋巴门 is both); they are resolved apart.
SCOPE_CATEGORIES = frozenset({"node_anchor", "neck_region", "thyroid_context", "non_cervical"})
# When two competing matches overlap and are equally long, the earlier kind wins.
_PRIORITY = {
    "pseudo": 0,
    "hedge_equivocal": 1,
    "negation_post": 2,
    "negation_pre": 3,
    "terminator": 4,
    "hedge_leaning": 5,
}


class Match(NamedTuple):
    """One dictionary entry found in a text (a tuple: millions are made in a large run)."""

    start: int  # character offset in the original text
    end: int
    text: str  # the text as written (typos included)
    entry: Entry
    score: float  # 100 for exact matches

    @property
    def category(self) -> str:
        return self.entry.category


class NormalizedText(NamedTuple):
    """Text prepared for matching, with a map back to the original offsets (a tuple: one is
    made per clause)."""

    original: str
    text: str
    offsets: tuple[int, ...] | None  # offsets[i] = original index of text[i]; one extra at the end
    # (None: the text is unchanged, every index maps to itself)

    def position(self, index: int) -> int:
        return index if self.offsets is None else self.offsets[index]

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.offsets is None:
            return start, end
        return self.offsets[start], self.offsets[end - 1] + 1


def normalize(text: str, language: str) -> NormalizedText:
    """NFKC per character (full-width letters, Ⅲ → III); Chinese also drops quotes and spaces.
    English whitespace is left as written: the tokenizer reads any run of it as one gap."""
    if text.isascii() and (language == "en" or not any(ch in _ZH_DROP for ch in text)):
        return NormalizedText(text, text, None)  # the common case: nothing to map back
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if language == "zh" and ch in _ZH_DROP:
            continue
        folded = unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch
        if language == "zh":
            folded = folded.replace(" ", "")
        for piece in folded:
            chars.append(piece)
            offsets.append(i)
    offsets.append(len(text))
    return NormalizedText(text, "".join(chars), tuple(offsets))


def resolve_overlaps(matches: Sequence[Match]) -> list[Match]:
    """Keep the longest match where matches overlap (pseudo-negations block shorter cues)."""
    if len(matches) < 2:  # most clauses: nothing can overlap
        return list(matches)
    ranked = sorted(
        matches,
        key=lambda m: (-(m.end - m.start), -m.score, _PRIORITY.get(m.category, 9), m.start),
    )
    taken: list[Match] = []
    occupied: list[tuple[int, int]] = []
    for m in ranked:
        if any(m.start < e and s < m.end for s, e in occupied):
            continue
        taken.append(m)
        occupied.append((m.start, m.end))
    return sorted(taken, key=lambda m: (m.start, m.end))


def split_groups(matches: Sequence[Match]) -> tuple[list[Match], list[Match]]:
    """(scope matches, competing matches), each with overlaps resolved."""
    scope = [m for m in matches if m.category in SCOPE_CATEGORIES]
    other = [m for m in matches if m.category not in SCOPE_CATEGORIES]
    return resolve_overlaps(scope), resolve_overlaps(other)


_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[tuple[int, int]]:
    """Word and punctuation tokens as (start, end): "LN(-)" is LN ( - ), "thyroid-like" is
    thyroid - like. Entries and texts are cut the same way, so terms match token for token."""
    return list(map(re.Match.span, _TOKEN.finditer(text)))


_UNSEEN = object()  # a window the memo has not met yet (None means "matches no fuzzy term")


class EnglishMatcher:
    """Token n-gram matcher: exact terms by dictionary look-up, fuzzy ones by rapidfuzz
    ``ratio`` against the few terms a window could reach, memoised per distinct window."""

    def __init__(self, entries: Sequence[Entry], cache_size: int = 200_000) -> None:
        # window text -> (fuzzy term column, score) or None: words recur from report to report
        # (Zipf), so even a cold run scores most windows once; bounded by cache_size
        self._window_memo: dict[str, tuple[int, float] | None] = {}
        self._fuzzy_words: set[str] = set()  # the one-word windows of the memo that match a term
        self._candidate_memo: dict[tuple[int, str, str], tuple[tuple[int, int, int], ...]] = {}
        self.cache_size = cache_size
        self.exact_ci: dict[tuple[str, ...], list[Entry]] = {}
        self.exact_cs: dict[tuple[str, ...], list[Entry]] = {}
        fuzzy: dict[int, list[tuple[str, Entry]]] = {}
        self.max_n = 1
        for entry in entries:
            term_text = normalize(entry.term, "en").text
            tokens = tuple(term_text[a:b] for a, b in tokenize(term_text))
            n = len(tokens)
            self.max_n = max(self.max_n, n)
            if entry.case_sensitive:
                self.exact_cs.setdefault(tokens, []).append(entry)
            else:
                self.exact_ci.setdefault(tuple(t.lower() for t in tokens), []).append(entry)
            if entry.match == "fuzzy":
                fuzzy.setdefault(n, []).append((" ".join(tokens).lower(), entry))
        # the fuzzy terms, ordered by token count: a window is scored against its candidates among them
        flat = sorted(((n, term, entry) for n, items in fuzzy.items() for term, entry in items), key=lambda x: x[0])
        self._fuzzy_terms = [term for _, term, _ in flat]
        self._fuzzy_entries = [entry for _, _, entry in flat]
        self._fuzzy_minimums = [entry.min_score for _, _, entry in flat]
        self._fuzzy_counts = [n for n, _, _ in flat]
        self.fuzzy = {n: [term for term, _ in items] for n, items in fuzzy.items()}  # per token count
        # One typo changes one word: a window of several words can only be within one typo of
        # a term if one of its words is the term's word at the same place (prunes almost every
        # window): word -> the (token count, place) of its terms
        places: dict[str, set[tuple[int, int]]] = {}
        for n, terms in self.fuzzy.items():
            if n > 1:
                for term in terms:
                    for place, word in enumerate(term.split()):
                        places.setdefault(word, set()).add((n, place))
        self.fuzzy_vocabulary = {word: tuple(sorted(found)) for word, found in places.items()}
        # Per fuzzy term, the window lengths that can reach its minimum score at all (ratio is
        # at most 200·min(a, b)/(a + b) for strings of lengths a and b), and their union: most
        # windows are ruled out by their length alone, before rapidfuzz is called.
        self._fuzzy_lengths = [_reachable_lengths(len(t), m) for t, m in zip(self._fuzzy_terms, self._fuzzy_minimums)]
        self.fuzzy_window_lengths = frozenset(n for lo, hi in self._fuzzy_lengths for n in range(lo, hi + 1))
        # first token -> the token counts of the exact terms it starts (look only those up)
        self.first_tokens: dict[str, tuple[int, ...]] = {}
        for key in [*self.exact_ci, *(tuple(t.lower() for t in k) for k in self.exact_cs)]:
            self.first_tokens[key[0]] = tuple(sorted({*self.first_tokens.get(key[0], ()), len(key)}))
        # the first tokens (lower case) of the case-sensitive terms: where the text as written is cut
        self.case_sensitive_starts = frozenset(k[0].lower() for k in self.exact_cs)
        # per token count, the first and the last letters of its fuzzy terms: a window is only
        # ever matched to a term sharing one of them (one typo keeps the other; see _candidates)
        self.fuzzy_ends = {n: ({t[0] for t in terms}, {t[-1] for t in terms}) for n, terms in self.fuzzy.items()}

    def find(self, text: str) -> list[Match]:
        """Every exact or fuzzy entry in ``text`` (spans into ``text``; overlaps unresolved)."""
        norm = normalize(text, "en")
        if norm.text.isascii():  # lower case moves no token boundary: cut the lowered text (C)
            lowers = _TOKEN.findall(norm.text.lower())
            words = None  # as written: cut only when a case-sensitive term may start here
        else:
            words = _TOKEN.findall(norm.text)
            lowers = [w.lower() for w in words]
        spans = None  # token offsets, found when the first match needs them
        found: list[Match] = []
        n_tokens = len(lowers)
        exact_at: set[tuple[int, int]] = set()
        first = self.first_tokens
        # "non-Hodgkin", "non-enlarged": the word after a negating prefix and its hyphen is not
        # that term (the whole word may be one, as non-enlarged is)
        prefixed = {i + 2 for i in range(n_tokens - 2) if lowers[i + 1] == "-" and lowers[i] in NEGATING_PREFIXES} \
            if "-" in lowers else ()
        for i in [i for i, w in enumerate(lowers) if w in first and i not in prefixed]:
            for n in first[lowers[i]]:
                j = i + n
                if j > n_tokens:
                    break
                entries = self.exact_ci.get(tuple(lowers[i:j]), [])
                if lowers[i] in self.case_sensitive_starts:
                    if words is None:
                        words = _TOKEN.findall(norm.text)
                    entries = entries + self.exact_cs.get(tuple(words[i:j]), [])
                if entries:
                    exact_at.add((i, n))
                    if spans is None:
                        spans = tokenize(norm.text)
                    s, e = norm.span(spans[i][0], spans[j - 1][1])
                    for entry in entries:
                        found.append(Match(s, e, text[s:e], entry, 100.0))
        if "not" in first and "not" in lowers:
            if spans is None:
                spans = tokenize(norm.text)
            found.extend(self._not_with_auxiliary(lowers, spans, norm, text, exact_at))
        if not self.fuzzy:
            return found
        memo = self._window_memo
        if len(memo) >= self.cache_size:
            memo.clear()  # bounded memory (plus one text's windows); common words come straight back
            self._fuzzy_words.clear()
        entries = self._fuzzy_entries
        found_at: list[tuple[int, int, tuple[int, float]]] = []  # (start token, token count, best)
        if 1 in self.fuzzy_ends:
            for w in {w for w in lowers if w not in memo}:
                self._remember(w, self._single_word_best(w))
            near = self._fuzzy_words
            found_at = [(i, 1, memo[w]) for i, w in enumerate(lowers)
                        if w in near and (i, 1) not in exact_at and i not in prefixed]
        vocabulary = self.fuzzy_vocabulary
        hits = [(i, vocabulary[w]) for i, w in enumerate(lowers) if w in vocabulary]
        if hits:
            ends, lengths = self.fuzzy_ends, self.fuzzy_window_lengths
            # as written: "İ".lower() is not alphabetic (ASCII letters are alike in either case)
            wordy = [w.isalpha() or w == "-" for w in (lowers if words is None else words)]
            starts = sorted({(h - place, n) for h, places in hits for n, place in places
                             if place <= h <= n_tokens - n + place})
            for i, n in starts:
                if (i, n) in exact_at or i in prefixed or not all(wordy[i:i + n]) \
                        or lowers[i][0] not in ends[n][0] and lowers[i + n - 1][-1] not in ends[n][1]:
                    continue
                window = " ".join(lowers[i:i + n])
                if len(window) >= 5 and len(window) in lengths:
                    best = memo.get(window, _UNSEEN)
                    if best is _UNSEEN:
                        best = self._remember(window, self._best_term(window))
                    if best is not None:
                        found_at.append((i, n, best))
        if found_at and spans is None:
            spans = tokenize(norm.text)
        for i, n, (column, score) in found_at:
            s, e = norm.span(spans[i][0], spans[i + n - 1][1])
            found.append(Match(s, e, text[s:e], entries[column], score))
        return found

    def _not_with_auxiliary(self, lowers, spans, norm, text, exact_at) -> list[Match]:
        """Terms that start with "not", read over a passive auxiliary after it ("has not been
        identified" is "not identified"; the match spans the auxiliary too)."""
        out = []
        n_tokens = len(lowers)
        for i in [i for i, w in enumerate(lowers[:-2]) if w == "not" and lowers[i + 1] in AUXILIARIES_AFTER_NOT]:
            for n in self.first_tokens["not"]:
                j = i + n + 1  # the term's n tokens and the auxiliary
                if j > n_tokens:
                    break
                entries = self.exact_ci.get(("not", *lowers[i + 2:j]), []) if n > 1 else []
                if entries:
                    exact_at.add((i, n + 1))
                    s, e = norm.span(spans[i][0], spans[j - 1][1])
                    out.extend(Match(s, e, text[s:e], entry, 100.0) for entry in entries)
        return out

    def _remember(self, window: str, best: tuple[int, float] | None) -> tuple[int, float] | None:
        self._window_memo[window] = best
        if best is not None and " " not in window:
            self._fuzzy_words.add(window)
        return best

    def _single_word_best(self, word: str) -> tuple[int, float] | None:
        """A one-word window: only alphabetic words of five letters or more are fuzzed."""
        if len(word) < 5 or len(word) not in self.fuzzy_window_lengths or not word.isalpha():
            return None
        return self._best_term(word)

    def _best_term(self, window: str) -> tuple[int, float] | None:
        """The best fuzzy term within its own minimum score that is not the window itself nor
        the window without a negating prefix: (its column, the score rounded to 0.1), or None.
        Ties go to the earlier term."""
        terms, minimums = self._fuzzy_terms, self._fuzzy_minimums
        best, best_score = None, 0.0
        for column in self._candidates(window):
            term = terms[column]
            score = fuzz.ratio(window, term, score_cutoff=minimums[column])
            if score > best_score and term != window and not _negated_form(window, term):
                best, best_score = column, score
        return None if best is None else (best, round(best_score, 1))

    def _candidates(self, window: str) -> list[int]:
        """The fuzzy terms a window may match, in dictionary order: the window's token count,
        sharing its first or last letter (one typo changes at most one of them), and of a
        length that can reach the term's minimum score."""
        key = (window.count(" ") + 1, window[0], window[-1])  # tokens hold no spaces
        found = self._candidate_memo.get(key)
        if found is None:
            n, first, last = key
            found = self._candidate_memo[key] = tuple(
                (column, *self._fuzzy_lengths[column])
                for column, (term, count) in enumerate(zip(self._fuzzy_terms, self._fuzzy_counts))
                if count == n and (term[0] == first or term[-1] == last))
        length = len(window)
        return [column for column, shortest, longest in found if shortest <= length <= longest]


def _reachable_lengths(length: int, minimum: float) -> tuple[int, int]:
    """The shortest and longest strings that can score ``minimum`` against a string of
    ``length`` characters: ratio is at most 200·min(a, b)/(a + b) for lengths a and b."""
    fits = [n for n in range(1, 2 * length + 1) if 200 * min(n, length) / (n + length) >= minimum]
    return min(fits), max(fits)


def _negated_form(window: str, term: str) -> bool:
    """The window is the term with a negating prefix ("nonenlarged lymph nodes" is no
    "enlarged lymph nodes", whatever the score): a typo never adds one."""
    return any(window.startswith(p) and not term.startswith(p) for p in NEGATING_PREFIXES)


class ChineseMatcher:
    """Character matcher: exact terms by substring look-up, fuzzy terms by aligned search."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.case_sensitive: dict[str, list[Entry]] = {}
        self.case_insensitive: dict[str, list[Entry]] = {}
        for entry in entries:
            term = normalize(entry.term, "zh").text
            if entry.case_sensitive:
                self.case_sensitive.setdefault(term, []).append(entry)
            else:
                self.case_insensitive.setdefault(term.lower(), []).append(entry)
        terms = set(self.case_sensitive) | set(self.case_insensitive)
        self.lengths = sorted({len(t) for t in terms}, reverse=True)
        # One C-level scan finds every position where some term may start.
        alternatives = sorted((re.escape(t) for t in terms), key=len, reverse=True)
        self.starts = re.compile("(?=" + "|".join(alternatives) + ")", re.IGNORECASE) if terms else None
        self.fuzzy = [(normalize(e.term, "zh").text, e) for e in entries if e.match == "fuzzy"]
        self.variants = [(re.compile("(?=(" + "|".join(
            re.escape(t[:i]) + f"[^{re.escape(t[i])}\\W\\da-zA-Z_]" + re.escape(t[i + 1:])
            for i in range(len(t))) + "))"), t, e)
            for t, e in ((normalize(e.term, "zh").text, e) for e in entries if e.match == "variant")]

    def find(self, original: str) -> list[Match]:
        """Every exact or fuzzy entry in ``original`` (spans into it; overlaps unresolved)."""
        norm = normalize(original, "zh")
        text = norm.text
        lowered = text.lower()
        found: list[Match] = []
        positions = (m.start() for m in self.starts.finditer(text)) if self.starts else ()
        for pos in positions:
            for length in self.lengths:
                end = pos + length
                if end > len(text):
                    continue
                entries = self.case_sensitive.get(text[pos:end], []) + \
                    self.case_insensitive.get(lowered[pos:end], [])
                if not entries:
                    continue
                if text[pos:end].isascii() and text[pos:end].isalnum() and (
                    (pos > 0 and text[pos - 1].isascii() and text[pos - 1].isalpha())
                    or (end < len(text) and text[end].isascii() and text[end].isalpha())
                ):
                    continue  # a Latin abbreviation inside a longer word (Ca in CDFI)
                s, e = norm.span(pos, end)
                found.extend(Match(s, e, original[s:e], entry, 100.0) for entry in entries)
        for term, entry in self.fuzzy:
            start = 0
            while start < len(text) - 1:
                al = fuzz.partial_ratio_alignment(term, text[start:], score_cutoff=entry.min_score)
                if al is None:
                    break
                ds, de = start + al.dest_start, start + al.dest_end
                if text[ds:de] != term:
                    s, e = norm.span(ds, de)
                    found.append(Match(s, e, original[s:e], entry, round(al.score, 1)))
                start = max(de, start + 1)
        if self.variants:
            found.extend(self._variants(original, norm, found))
        return found

    def _variants(self, original: str, norm: NormalizedText, exact: list[Match]) -> list[Match]:
        """One character replaced by another Chinese one (琳巴结, 淋八结), where that character
        is not part of another term found there (淋巴门, or a pseudo word such as 淋巴管)."""
        text = norm.text
        out = []
        for pattern, term, entry in self.variants:
            for m in pattern.finditer(text):
                pos = m.start()
                wrong = next(i for i, ch in enumerate(m.group(1)) if ch != term[i])
                if not _is_cjk(text[pos + wrong]):
                    continue
                s, e = norm.span(pos, pos + len(term))
                at = norm.span(pos + wrong, pos + wrong + 1)[0]
                if any(x.start <= at < x.end for x in exact):
                    continue
                out.append(Match(s, e, original[s:e], entry, round(100 * (len(term) - 1) / len(term), 1)))
        return out


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"
