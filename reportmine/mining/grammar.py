"""The grammar words the scope rules read, as named tables (and the patterns made from them).

The clinical vocabulary (findings, negations, hedges, node words …) is data in
``dictionaries/``, editable by a clinician. What is here is grammar: the words and marks
that cut a report into pieces and clauses, that tell a list from a new statement and that
name a neck level or a side. A change here changes how every sentence is read, so each
table says what it is for; the patterns below are built from the tables and nothing else.
"""

from __future__ import annotations

import re


def _alternation(words) -> str:
    """A regex alternation of literal words, longest first (so "levels" is tried before "level")."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _char_class(chars: str) -> str:
    return "[" + "".join(re.escape(ch) for ch in chars) + "]"


# --- Pieces and clauses ------------------------------------------------------------------
#: End a sentence (a "." between two digits, as in 1.5 cm, is skipped by the reader).
SENTENCE_ENDS = "。！？!?\n."
#: End a piece inside a sentence: a negation of one side never covers the other.
PIECE_ENDS = ";；"
#: End a clause: lists, headers and their verdicts ("Lymphadenopathy: none").
CLAUSE_ENDS = ",，:："

# --- Words that join or start statements ---------------------------------------------------
#: English coordinating conjunctions: a clause holding one may close a list ("A, B, or C").
COORDINATORS_EN = ("and", "or", "nor")
#: Chinese coordinators and the enumeration comma.
COORDINATORS_ZH = "及和或与、"
#: English relative pronouns: "node that, <aside>, is Y"; "…, which …" starts a new statement.
RELATIVE_PRONOUNS = ("that", "which", "who")
#: Adverbs allowed between a conjunction and the verb that introduces a new finding
#: ("and also shows", "and then demonstrates").
LINKING_ADVERBS = ("also", "then")
#: Conjunctions that can open a new main clause with its own subject ("… and he is …").
CLAUSE_JOINERS = ("and", "but", "or", "so")
#: Subjects that make such a clause a new statement, not a continuation of a list.
NEW_SUBJECTS = ("he", "she", "they", "it", "we", "there", "the patient")
#: Prepositions that open a new modifier phrase after a comma ("no hilum, rounded, with
#: peripheral flow"): such a clause is a new statement, not an item of a negated list.
MODIFIER_OPENERS = ("with", "showing", "containing", "having")
#: Forms of "to be": a clause with one states something and is no bare list item.
COPULAS = ("is", "are", "was", "were")
#: Verbs after which a background clause ("which given the history of …") ends.
STATING_VERBS = COPULAS + ("appear", "appears", "seem", "seems", "remain", "remains",
                           "represent", "represents")
#: Words that compare today's finding with an earlier study: a past cue as their object
#: ("compared with the prior study", "larger than on the previous", "unchanged from prior",
#: "since the previous") names the old study, so the finding stays current.
COMPARISON_WORDS = ("compared with", "compared to", "comparison with", "comparison to", "relative to",
                    "since", "than", "from", "versus", "vs")
#: Words that may stand between a comparison word and its past cue ("than on the most recent").
COMPARISON_FILLERS = ("the", "a", "an", "this", "that", "his", "her", "their", "its", "on", "in", "at",
                      "with", "to", "most", "recent", "last", "patient's")
#: After a one-word past adjective (prior, previous, remote), these end the noun phrase it
#: modifies: "prior neck dissection | with a new node", "previous thyroidectomy | showing …".
PHRASE_ENDERS = STATING_VERBS + MODIFIER_OPENERS + ("has", "have", "had", "shows", "show",
                                                    "demonstrates", "demonstrate", "now")
#: A kinship word is a person when a possessive comes before it ("her mother", "patient's
#: sister") or when a person's verb, preposition or the end of the phrase follows it ("mother
#: had …", "relatives with …", "lymphoma in the mother."); otherwise it is a comparison or an
#: adjective ("relative to prior", "a relative paucity", "daughter nodules").
PERSON_BEFORE = ("his", "her", "their", "my", "your", "our", "patient's", "maternal", "paternal",
                 "whose", "older", "younger", "elder")
PERSON_AFTER = ("has", "had", "have", "was", "were", "is", "are", "with", "who", "died", "diagnosed",
                "developed", "of", "at", "age", "aged", "also", "reports", "'s")
#: Chinese characters allowed between a degree word and its term (稍肿大, 轻度肿大, 明显地).
DEGREE_LINKERS_ZH = "度地"
#: Marks that carry no words: what may stand between a term and a verdict on it.
QUIET_MARKS = ":：()（）[]。."  # and white space

# --- Word forms ----------------------------------------------------------------------------
#: Prefixes that negate a word: a fuzzy match never takes "nonenlarged" for "enlarged".
NEGATING_PREFIXES = ("non", "un")
#: Passive auxiliaries that may stand inside a "not …" term: "has not been identified" reads as
#: "not identified", "could not be seen" as "not seen".
AUXILIARIES_AFTER_NOT = frozenset({"been", "be", "being"})
#: Auxiliaries of a relative clause's verb before its negation ("that has not", "who does not").
AUXILIARIES = ("has", "have", "had", "does", "do", "did", "is", "are", "was", "were", "can", "could",
               "will", "would", "may", "might", "should")

# --- Hedges on the cause, counts of nodes ---------------------------------------------------
#: Words that link a finding to its cause or to another finding: a hedge after one of them
#: doubts the cause, not the finding ("adenopathy from infection versus sarcoid").
CAUSE_CONNECTORS = ("from", "due to", "secondary to", "related to", "caused by", "because of",
                    "attributed to", "attributable to")
#: Nouns naming a cause: a hedge on one of them doubts the cause ("of uncertain etiology",
#: "cause unclear"), while "of uncertain significance" doubts the finding itself.
CAUSE_NOUNS = ("etiology", "aetiology", "etiologies", "cause", "causes", "origin", "source")
#: A hedge ending in one of these governs the phrase after it ("consistent with Y",
#: "suspicious for Y"): it never reaches back to what precedes it.
GOVERNING_PREPOSITIONS = ("with", "for", "of", "to")
#: Node counts in pathology: "0/12", "3 of 12", "(0/5)"; zero positive nodes is a negative result.
NODE_COUNT = re.compile(r"(?<![\d.])(\d+)\s*(?:/|of|out of)\s*(\d+)(?![\d.])", re.IGNORECASE)

# --- Neck levels and sides ----------------------------------------------------------------
#: Roman numerals of the neck levels, in order (ranges such as II–IV are expanded).
LEVEL_NUMERALS = ("I", "II", "III", "IV", "V", "VI", "VII")
#: English words naming a level ("level III", "lvl II", "L IV").
LEVEL_WORDS_EN = ("level", "levels", "lvl", "L")
#: English range connectors between two levels ("levels II to IV", "II/III").
LEVEL_RANGE_EN = ("-", "–", "to", "and", "/")
#: Chinese: the level word follows the numeral (III区) and ranges join with these.
LEVEL_WORD_ZH = "区"
LEVEL_RANGE_ZH = "~～-–至到、,，和及与"
#: Side words (English whole words, lower case; Chinese single characters).
LEFT_WORDS = ("left", "lt", "l")
RIGHT_WORDS = ("right", "rt", "r")
BOTH_WORDS = ("bilateral", "bilaterally", "both")
LEFT_ZH, RIGHT_ZH, BOTH_ZH = "左", "右", "双"

# --- Patterns built from the tables -------------------------------------------------------
PIECE_END = re.compile(_char_class(SENTENCE_ENDS + PIECE_ENDS))
CLAUSE_END = re.compile(_char_class(CLAUSE_ENDS))
STATING_VERB = re.compile(rf"\b(?:{_alternation(STATING_VERBS)})\b", re.IGNORECASE)
COPULA = re.compile(rf"\b(?:{_alternation(COPULAS)})\b", re.IGNORECASE)
CONJUNCTION = re.compile(rf"\b(?:{_alternation(COORDINATORS_EN)})\b|{_char_class(COORDINATORS_ZH)}",
                         re.IGNORECASE)
OPENING_CONJUNCTION = re.compile(rf"\s*(?:{_alternation(COORDINATORS_EN)})\b", re.IGNORECASE)
OPENING_MODIFIER = re.compile(rf"\s*(?:(?:{_alternation(COORDINATORS_EN)})\s+)?(?:{_alternation(MODIFIER_OPENERS)})\b",
                              re.IGNORECASE)
# a conjunction or relative pronoun (or a comma) right before a verb that introduces a finding
LINK_BEFORE = re.compile(
    rf"(?:\b(?:{_alternation(COORDINATORS_EN[:2] + RELATIVE_PRONOUNS)})|,)\s*"
    rf"(?:(?:{_alternation(LINKING_ADVERBS)})\s+)?$", re.IGNORECASE)
NEW_SUBJECT = re.compile(rf"\b(?:{_alternation(CLAUSE_JOINERS)})\s+(?:{_alternation(NEW_SUBJECTS)})\b",
                         re.IGNORECASE)
ADJECTIVE_GAP = re.compile(r"^[ \t]+(?:[A-Za-z-]+[ \t]+){0,2}$")  # words, no punctuation, before a noun
CAUSE_CONNECTOR = re.compile(rf"\b(?:{_alternation(CAUSE_CONNECTORS)})\b", re.IGNORECASE)
CAUSE_NOUN_NEXT = re.compile(rf"\s*(?:{_alternation(CAUSE_NOUNS)})\b", re.IGNORECASE)
CAUSE_NOUN_BEFORE = re.compile(rf"\b(?:{_alternation(CAUSE_NOUNS)})\s*(?:is\s+|are\s+|remains\s+)?$", re.IGNORECASE)
GOVERNING_END = re.compile(rf"\b(?:{_alternation(GOVERNING_PREPOSITIONS)})\s*$", re.IGNORECASE)
OPENING_COPULA = re.compile(rf"\s*(?:{_alternation(COPULAS)})\b", re.IGNORECASE)  # use with .match(text, pos)
#: A relative pronoun and the auxiliaries of its own verb, right before a verb negation: "that
#: has not", "who does not", "which is not" (a negation inside a relative clause).
RELATIVE_NEGATED = re.compile(rf"\b(?:{_alternation(RELATIVE_PRONOUNS)})\s+(?:(?:{_alternation(AUXILIARIES)})\s+)*$",
                              re.IGNORECASE)
RELATIVE_END = re.compile(rf"\b(?:{_alternation(RELATIVE_PRONOUNS)})\s*$", re.IGNORECASE)
QUIET = re.compile(rf"^[\s{_char_class(QUIET_MARKS)[1:-1]}]*$")
VERDICT_GAP = re.compile(r"^[\s:：]*$")  # only spaces or a header colon between a node and its verdict
DEGREE_GAP = re.compile(rf"^[\s{DEGREE_LINKERS_ZH}]{{0,2}}$")
PARENTHESIS = re.compile(r"\([^()]*\)")
COMPARISON_BEFORE = re.compile(rf"\b(?:{_alternation(COMPARISON_WORDS)})\s+"
                               rf"(?:(?:{_alternation(COMPARISON_FILLERS)})\s+)*$", re.IGNORECASE)
PHRASE_END = re.compile(rf"\b(?:{_alternation(PHRASE_ENDERS)})\b", re.IGNORECASE)
PERSON_PRECEDES = re.compile(rf"\b(?:{_alternation(PERSON_BEFORE)})\s+$", re.IGNORECASE)
PERSON_FOLLOWS = re.compile(rf"\s*(?:$|[,.;:()\[\]-]|(?:{_alternation(PERSON_AFTER)})(?![\w']))", re.IGNORECASE)
_NUMERAL = "[IV]+"
ZH_LEVEL = re.compile(rf"({_NUMERAL})[AB]?\s*(?:{_char_class(LEVEL_RANGE_ZH)}\s*({_NUMERAL})[AB]?)?"
                      rf"\s*{LEVEL_WORD_ZH}")
EN_LEVEL = re.compile(rf"\b(?:{_alternation(LEVEL_WORDS_EN)})\s*({_NUMERAL})[ab]?\b"
                      rf"(?:\s*(?:{_alternation(LEVEL_RANGE_EN)})\s*({_NUMERAL})[ab]?\b)?", re.IGNORECASE)
# A one-letter side (l, r) is no side before "/o" (r/o: rule out) or before a level numeral
# ("L IV" is level IV), nor as a flag in brackets after a value ("3.1 (L)": a low result).
_LETTER_SIDE = (r"(?<![\d.%]\()(?<![\d.%] \()(?<!mm\()(?<!cm\()(?<!mm \()(?<!cm \()"
                r"\b{}\b(?!\s*/\s*o\b)(?![ \t]*[iv]+\b)")
LEFT = re.compile(rf"\b(?:{_alternation(w for w in LEFT_WORDS if len(w) > 1)})\b|"
                  + _LETTER_SIDE.format("|".join(w for w in LEFT_WORDS if len(w) == 1)))
RIGHT = re.compile(rf"\b(?:{_alternation(w for w in RIGHT_WORDS if len(w) > 1)})\b|"
                   + _LETTER_SIDE.format("|".join(w for w in RIGHT_WORDS if len(w) == 1)))
BOTH = re.compile(rf"\b(?:{_alternation(BOTH_WORDS)})\b")

# --- Scripts ------------------------------------------------------------------------------
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[a-z]{3,}")  # an English word, not a unit (cm, mm)
ASCII_LETTER = re.compile(r"[A-Za-z]")
