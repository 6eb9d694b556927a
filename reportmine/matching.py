"""Find dictionary terms in report text: exact and fuzzy, English and Chinese.

English is tokenised with spaCy's blank ``en`` tokenizer and terms are matched
against token n-grams; Chinese is matched on characters (no word segmentation
is needed, and none can go wrong). Fuzzy entries are scored with rapidfuzz's
``ratio``; abbreviations are exact entries and are never fuzzed.

All spans are character offsets into the *original* text, so every match can
be shown to a reader exactly where it was found.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rapidfuzz import fuzz, process

from .dictionary import Entry

# Quotes, brackets of emphasis and spaces carry no meaning inside Chinese terms
# ("淋巴门"结构 reads as 淋巴门结构), so they are dropped before matching Chinese.
_GLUED_SIGN = re.compile(r"\w\(")
_SPACES = re.compile(r"\s\s|[\t\n\r\f\v]")
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


@dataclass(frozen=True)
class NormalizedText:
    """Text prepared for matching, with a map back to the original offsets."""

    original: str
    text: str
    offsets: tuple[int, ...]  # offsets[i] = original index of text[i]; one extra at the end

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.offsets[start], self.offsets[end - 1] + 1


def normalize(text: str, language: str) -> NormalizedText:
    """NFKC per character (full-width letters, Ⅲ → III); Chinese also drops quotes and spaces."""
    if text.isascii() and (language == "en" and _GLUED_SIGN.search(text) is None and _SPACES.search(text) is None
                           or language == "zh" and not any(ch in _ZH_DROP for ch in text)):
        return NormalizedText(text, text, tuple(range(len(text) + 1)))
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        if language == "zh" and ch in _ZH_DROP:
            continue
        if language == "en" and ch.isspace():
            if chars and chars[-1] == " ":
                continue  # "negative   for" reads as "negative for"
            ch = " "
        folded = unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch
        if language == "zh":
            folded = folded.replace(" ", "")
        elif folded == "(" and chars and chars[-1].isalnum():
            chars.append(" ")  # "LN(-)" reads as "LN (-)": the sign is a token of its own
            offsets.append(i)
        for piece in folded:
            chars.append(piece)
            offsets.append(i)
    offsets.append(len(text))
    return NormalizedText(text, "".join(chars), tuple(offsets))


class _LRU:
    """A small bounded memo for fuzzy look-ups (real reports repeat their phrases)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        value = self.data.get(key, default)
        if value is not default:
            self.data.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)


def resolve_overlaps(matches: Sequence[Match]) -> list[Match]:
    """Keep the longest match where matches overlap (pseudo-negations block shorter cues)."""
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


class EnglishMatcher:
    """Token n-gram matcher over spaCy tokens."""

    def __init__(self, entries: Sequence[Entry], cache_size: int = 200_000) -> None:
        import spacy

        self.tokenizer = spacy.blank("en").tokenizer
        self.exact_ci: dict[tuple[str, ...], list[Entry]] = {}
        self.exact_cs: dict[tuple[str, ...], list[Entry]] = {}
        # fuzzy terms by token count, indexed by first and by last letter: one edit can
        # change at most one of them, so every candidate within one typo is compared
        self.fuzzy: dict[tuple[int, str], list[tuple[str, Entry]]] = {}
        self.fuzzy_lengths: set[int] = set()
        self.max_n = 1
        for entry in entries:
            tokens = tuple(t.text for t in self.tokenizer(entry.term))
            n = len(tokens)
            self.max_n = max(self.max_n, n)
            if entry.case_sensitive:
                self.exact_cs.setdefault(tokens, []).append(entry)
            else:
                self.exact_ci.setdefault(tuple(t.lower() for t in tokens), []).append(entry)
            if entry.match == "fuzzy":
                term = " ".join(tokens).lower()
                self.fuzzy_lengths.add(n)
                for key in {(n, "^" + term[0]), (n, "$" + term[-1])}:
                    self.fuzzy.setdefault(key, []).append((term, entry))
        self.first_tokens = {k[0] for k in self.exact_ci} | {k[0].lower() for k in self.exact_cs}
        self._cache = _LRU(cache_size)

    def _fuzzy_lookup(self, window: str, n: int) -> tuple[Entry, float] | None:
        key = (window, n)
        hit = self._cache.get(key, False)
        if hit is not False:
            return hit
        candidates = self.fuzzy.get((n, "^" + window[0]), []) + self.fuzzy.get((n, "$" + window[-1]), [])
        found = None
        if candidates:
            cutoff = min(e.min_score for _, e in candidates)
            best = process.extractOne(window, [t for t, _ in candidates], scorer=fuzz.ratio, score_cutoff=cutoff)
            if best is not None:
                term, score, index = best
                entry = candidates[index][1]
                if score >= entry.min_score and term != window:
                    found = (entry, score)
        self._cache.put(key, found)
        return found

    def find(self, text: str) -> list[Match]:
        """Every exact or fuzzy entry in ``text`` (spans into ``text``; overlaps unresolved)."""
        from spacy.attrs import IDX, IS_ALPHA, LENGTH

        norm = normalize(text, "en")
        doc = self.tokenizer(norm.text)
        table = doc.to_array([IDX, LENGTH, IS_ALPHA]).tolist() if len(doc) else []
        words = [norm.text[i:i + n] for i, n, _ in table]
        lowers = [w.lower() for w in words]
        wordy = [bool(a) or "-" in w for (_, _, a), w in zip(table, words)]
        found: list[Match] = []
        n_tokens = len(words)
        for i in range(n_tokens):
            exact_here = lowers[i] in self.first_tokens
            fuzzy_here = wordy[i]
            if not (exact_here or fuzzy_here):
                continue
            for n in range(1, min(self.max_n, n_tokens - i) + 1):
                j = i + n
                entries = []
                if exact_here:
                    entries = self.exact_ci.get(tuple(lowers[i:j]), []) + self.exact_cs.get(tuple(words[i:j]), [])
                if entries:
                    score = 100.0
                else:
                    if n not in self.fuzzy_lengths or not fuzzy_here or not all(wordy[i:j]):
                        continue
                    window = " ".join(lowers[i:j])
                    if len(window) < 5:
                        continue
                    hit = self._fuzzy_lookup(window, n)
                    if hit is None:
                        continue
                    entries, score = [hit[0]], round(hit[1], 1)
                start, end = table[i][0], table[j - 1][0] + table[j - 1][1]
                s, e = norm.span(start, end)
                found.extend(Match(s, e, text[s:e], entry, score) for entry in entries)
        return found


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
