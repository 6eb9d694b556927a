"""Load and validate the clinician-editable synonym dictionaries.

A dictionary is a UTF-8 CSV file (it opens in Excel) with one entry per row:

    term, category, language, match, min_score, case_sensitive, note

``match`` is ``exact``, ``fuzzy`` or ``variant``; ``min_score`` (0-100, rapidfuzz ratio) is
required for fuzzy entries. A ``variant`` entry (Chinese, 3+ characters) also matches with any
one character replaced by another Chinese character (琳巴结, 淋八结 for 淋巴结), unless the
replaced character belongs to another dictionary term there (淋巴管, 下巴 are pseudo entries). The meaning of every category is fixed in
:data:`CATEGORIES`; the terms are data.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

LANGUAGES = ("en", "zh")
MATCH_MODES = ("exact", "fuzzy", "variant")
COLUMNS = ("term", "category", "language", "match", "min_score", "case_sensitive", "note")

# category -> (role, what it means). Roles: "finding" entries carry a polarity,
# "cue" entries modify findings, "scope" entries say what a clause is about.
CATEGORIES: dict[str, tuple[str, str]] = {
    "malignant_finding": ("finding", "node called metastatic / abnormal / suspicious (paper Table 1)"),
    "enlargement": ("finding", "node called enlarged / lymphadenopathy (paper Table 1): malignant unless the "
                               "statement calls the node reactive or normal"),
    "suspicious_feature": ("finding", "ETA 2017 suspicious node feature: implies malignancy"),
    "benign_finding": ("finding", "node called normal / reactive / benign (paper Table 1)"),
    "indeterminate_feature": ("finding", "ETA 2017 indeterminate feature: round, thick cortex, plump"),
    "hilum_present": ("finding", "fatty hilum seen (benign); negated it means hilum absent"),
    "hilum_absent": ("finding", "hilum absent (indeterminate)"),
    "hilum_unclear": ("finding", "hilum not clearly shown (indeterminate)"),
    "hypervascularity": ("finding", "rich flow: suspicious only with an absent hilum"),
    "node_anchor": ("scope", "names a lymph node (淋巴结, LN, node, lymphadenopathy)"),
    "neck_region": ("scope", "names a neck region (neck, level III, 颈部, 锁骨上, VI区)"),
    "thyroid_context": ("scope", "belongs to the thyroid nodule (or another non-node structure), never to a node"),
    "non_cervical": ("scope", "a region outside the neck (axilla, mediastinum): its nodes are out of scope"),
    "negation_pre": ("cue", "negates findings after it, to the end of the clause"),
    "negation_post": ("cue", "negates findings before it, back to the start of the clause"),
    "pseudo": ("cue", "looks like a cue or term but is neither; blocks shorter overlaps"),
    "hedge_leaning": ("cue", "hedge that keeps the finding's direction (suspicious for, 考虑)"),
    "hedge_equivocal": ("cue", "equivocal hedge: the node statement is indeterminate"),
    "terminator": ("cue", "ends a negation or hedge scope (but, however, 但, 除…外, 伴, 并见)"),
    "introducer": ("cue", "a verb or preposition that states a finding (with, shows, contains): after "
                          "a conjunction it ends a negation (\"no A and with B\"); a list item holding "
                          "one is a new statement, not part of a negated list"),
    "degree": ("cue", "a degree word (slightly, mildly, 稍, 略): on an alarm term (enlarged, 肿大) it "
                      "makes it indeterminate, so stated benign features decide"),
    "degree_doubt": ("cue", "a degree word that doubts the boundary (borderline): for a label it acts as "
                            "degree; for a node concept the node is possible"),
    "positive_sign": ("cue", "a positive sign or verdict ((+), 阳性, positive): directly after a node word "
                             "the node is positive (LN(+))"),
    "history": ("cue", "a background clause (history of, 病史, 既往史): it keeps "
                       "the subject of the sentence and its findings never decide; for temporality a "
                       "past mention (English: before the concept; Chinese: after it, 甲状腺癌病史)"),
    "reasoning": ("cue", "background reasoning (given, in view of, 结合, 鉴于): like history, its part of "
                         "the clause never decides, but it says nothing of time"),
    # ConText's other two properties. A statement they reach never decides a report label.
    "historical": ("cue", "a past event before the concept (status post, previous, prior, 既往): "
                          "temporality historical"),
    "historical_post": ("cue", "a past event after the concept (in the past, 术后): temporality historical"),
    "hypothetical": ("cue", "a possible future or a condition before the concept (if, should, in case of, "
                            "如有, 若, 建议): temporality hypothetical"),
    "experiencer": ("cue", "another person (mother, family history, 母亲, 家族史): the rest of its "
                           "sentence part is about someone other than the patient"),
    "current": ("cue", "now, currently, 目前: ends a historical or hypothetical scope"),
    # The state of a node, read when the concept assessed is a node word (``reportmine context``).
    "node_status_normal": ("cue", "calls a node normal without a finding word (non-enlarged, impalpable, "
                                  "tumour-free): the node concept is negated"),
    "node_status_abnormal": ("cue", "calls a node abnormal without a finding word (palpable): the node "
                                    "concept is affirmed unless negated (not palpable)"),
}
# Categories whose entries must not share a term: they would pull one word two ways.
_POLARITY = {
    "malignant_finding": "malignant",
    "suspicious_feature": "malignant",
    "enlargement": "malignant",
    "benign_finding": "benign",
    "hilum_present": "benign",
    "indeterminate_feature": "indeterminate",
    "hilum_absent": "indeterminate",
    "hilum_unclear": "indeterminate",
}
# Shorter fuzzy terms match too many ordinary words (ratio 88 on 4 letters is one edit).
MIN_FUZZY_LENGTH = {"en": 6, "zh": 4}


MAX_DICTIONARY_BYTES = 64 << 20  # the shipped dictionaries are a few KiB


class DictionaryError(ValueError):
    """A dictionary file cannot be used; the message names file and line."""


@dataclass(frozen=True)
class Entry:
    term: str
    category: str
    language: str
    match: str = "exact"
    min_score: float | None = None
    case_sensitive: bool = False
    note: str = ""
    source: str = ""  # "file:line" for audit

    @property
    def role(self) -> str:
        return CATEGORIES[self.category][0]

    @property
    def label(self) -> str:
        return f"{self.term} [{self.category}]"


@dataclass(frozen=True)
class Problem:
    source: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.source}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Dictionary:
    entries: tuple[Entry, ...]
    paths: tuple[str, ...]

    def for_language(self, language: str) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.language == language)

    def __len__(self) -> int:
        return len(self.entries)


def default_dictionary_dir() -> Path:
    """Where the shipped dictionaries are: inside the installed wheel, or the checkout."""
    packaged = resources.files("reportmine") / "_dictionaries"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "dictionaries"
    if checkout.is_dir():
        return checkout
    raise DictionaryError("the shipped dictionaries were not found (broken install?)")


def dictionary_files(path: str | Path | None = None) -> list[Path]:
    """The CSV files of a dictionary given as a file, a folder, or None (the shipped one)."""
    root = Path(path) if path is not None else default_dictionary_dir()
    if root.is_dir():
        files = sorted(root.glob("*.csv"))
        if not files:
            raise DictionaryError(f"{root}: no .csv dictionary files in this folder")
        return files
    if not root.exists():
        raise DictionaryError(f"{root}: dictionary file not found")
    return [root]


def _parse_bool(text: str, where: str) -> bool:
    value = text.strip().lower()
    if value in ("", "no", "false", "0", "n"):
        return False
    if value in ("yes", "true", "1", "y"):
        return True
    raise DictionaryError(f"{where}: case_sensitive must be yes or no, got {text!r}")


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    from ..core.errors import InputError
    from ..core.inputs import read_bytes_bounded

    try:  # a regular file of bounded size: a pipe or /dev/zero is one line, not a hang
        raw = read_bytes_bounded(path, MAX_DICTIONARY_BYTES, what="dictionary file")
    except InputError as exc:
        raise DictionaryError(str(exc)) from None
    except OSError as exc:
        raise DictionaryError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DictionaryError(f"{path}: not UTF-8 (save the CSV as UTF-8)") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS[:4] if c not in header]
    if missing:
        raise DictionaryError(f"{path}:1: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    rows = []
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        rows.append((reader.line_num, {k: (v or "") for k, v in row.items() if k}))
    return rows


def _entry_from_row(path: Path, line: int, row: dict[str, str]) -> Entry:
    where = f"{path.name}:{line}"
    term = row["term"].strip()
    category = row["category"].strip()
    language = row["language"].strip()
    match = (row.get("match") or "exact").strip() or "exact"
    if not term:
        raise DictionaryError(f"{where}: empty term")
    if category not in CATEGORIES:
        raise DictionaryError(f"{where}: unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    if language not in LANGUAGES:
        raise DictionaryError(f"{where}: unknown language {language!r}; known: {', '.join(LANGUAGES)}")
    if match not in MATCH_MODES:
        raise DictionaryError(f"{where}: match must be exact, fuzzy or variant, got {match!r}")
    if match == "variant" and (language != "zh" or len(term) < 3):
        raise DictionaryError(f"{where}: variant matching is for Chinese terms of 3+ characters, got {term!r}")
    score_text = (row.get("min_score") or "").strip()
    min_score = None
    if score_text:
        try:
            min_score = float(score_text)
        except ValueError as exc:
            raise DictionaryError(f"{where}: min_score must be a number, got {score_text!r}") from exc
        if not 0 < min_score <= 100:
            raise DictionaryError(f"{where}: min_score must be in (0, 100], got {min_score:g}")
    if match == "fuzzy" and min_score is None:
        raise DictionaryError(f"{where}: fuzzy entry {term!r} needs a min_score")
    return Entry(
        term=term,
        category=category,
        language=language,
        match=match,
        min_score=min_score,
        case_sensitive=_parse_bool(row.get("case_sensitive", ""), where),
        note=(row.get("note") or "").strip(),
        source=where,
    )


def check_entries(entries: Sequence[Entry]) -> list[Problem]:
    """Problems a clinician should fix: duplicates, conflicts, unsafe fuzzy entries."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], Entry] = {}
    polarity_of: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        key_term = entry.term if entry.case_sensitive else entry.term.lower()
        key = (entry.language, entry.category, key_term)
        if key in seen:
            problems.append(Problem(entry.source, f"duplicate of {seen[key].source}: {entry.label}"))
        else:
            seen[key] = entry
        polarity = _POLARITY.get(entry.category)
        if polarity is not None:
            pkey = (entry.language, key_term)
            other = polarity_of.get(pkey)
            if other is not None and _POLARITY[other.category] != polarity:
                problems.append(
                    Problem(entry.source, f"conflicts with {other.source}: {entry.term!r} is both "
                                          f"{other.category} and {entry.category}")
                )
            polarity_of.setdefault(pkey, entry)
        if entry.match == "fuzzy":
            length = len(entry.term.replace(" ", "")) if entry.language == "zh" else len(entry.term)
            if length < MIN_FUZZY_LENGTH[entry.language]:
                problems.append(
                    Problem(entry.source, f"fuzzy entry {entry.term!r} is too short to fuzz safely "
                                          f"(< {MIN_FUZZY_LENGTH[entry.language]} characters); make it exact")
                )
            if entry.term.isupper() and len(entry.term) <= 5:
                problems.append(Problem(entry.source, f"abbreviation {entry.term!r} must match exactly"))
            if entry.min_score is not None and entry.min_score < 70:
                problems.append(
                    Problem(entry.source, f"min_score {entry.min_score:g} is low; expect false matches",
                            severity="warning")
                )
    return problems


def load_dictionary(path: str | Path | None = None, *, strict: bool = True) -> Dictionary:
    """Read a dictionary (file, folder of CSVs, or the shipped one).

    With ``strict`` (the default) any problem of :func:`check_entries` with
    severity "error" raises :class:`DictionaryError` naming file and line.
    """
    files = dictionary_files(path)
    entries: list[Entry] = []
    for file in files:
        for line, row in _read_rows(file):
            entries.append(_entry_from_row(file, line, row))
    if strict:
        errors = [p for p in check_entries(entries) if p.severity == "error"]
        if errors:
            raise DictionaryError(str(errors[0]) + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    log.debug("loaded %d dictionary entries from %s", len(entries), [str(f) for f in files])
    return Dictionary(entries=tuple(entries), paths=tuple(str(f) for f in files))


def check_dictionary(path: str | Path | None = None) -> list[Problem]:
    """All problems in a dictionary, for `reportmine dictionary check` (never raises on content)."""
    files = dictionary_files(path)
    entries: list[Entry] = []
    problems: list[Problem] = []
    for file in files:
        for line, row in _read_rows(file):
            try:
                entries.append(_entry_from_row(file, line, row))
            except DictionaryError as exc:
                where, _, message = str(exc).partition(": ")
                problems.append(Problem(where, message))
    return problems + check_entries(entries)


def entries_table(entries: Iterable[Entry]) -> list[dict[str, object]]:
    return [
        {
            "term": e.term,
            "category": e.category,
            "language": e.language,
            "match": e.match,
            "min_score": "" if e.min_score is None else f"{e.min_score:g}",
            "case_sensitive": "yes" if e.case_sensitive else "no",
            "source": e.source,
        }
        for e in entries
    ]
