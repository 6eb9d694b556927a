"""The negation engine as a spaCy pipeline component: ``nlp.add_pipe("reportmine_context")``.

``pip install "reportmine[spacy]"`` registers the factory through spaCy's
``spacy_factories`` entry point, so no import is needed::

    import spacy
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "FINDING", "pattern": "lymphadenopathy"}])
    nlp.add_pipe("reportmine_context")
    doc = nlp("No cervical lymphadenopathy.")
    doc.ents[0]._.is_negated          # True
    doc.ents[0]._.context_cue         # the Span 'No'

Every span of ``doc.ents`` (from any NER or EntityRuler placed before) gets the medSpaCy
attribute names ``is_negated``, ``is_uncertain``, ``is_historical``, ``is_hypothetical`` and
``is_family``, with ``context_cue`` (the span of the cue that gave the status),
``temporality_cue`` and ``experiencer_cue`` (spans or None) and ``context_status``
(affirmed | negated | possible). The answers are those of :class:`AssertionEngine` for the
entity's character span, the same as ``reportmine context`` gives for that mention.
Values are plain booleans and character offsets (the cue spans are made from them when
read), so documents travel between processes (``nlp.pipe(texts, n_process=2)``).

spaCy is needed only here: the core and ``reportmine[mining]`` installs never import it.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Span

from .assertion import AssertionEngine

FLAGS = ("is_negated", "is_uncertain", "is_historical", "is_hypothetical", "is_family")
_CUES = ("context_cue", "temporality_cue", "experiencer_cue")


def _cue_getter(name: str):
    def get(span: Span) -> Span | None:
        offsets = span._.get(f"{name}_chars")
        return None if not offsets else span.doc.char_span(offsets[0], offsets[1], alignment_mode="expand")

    return get


def _register_extensions() -> None:
    for flag in FLAGS:
        if not Span.has_extension(flag):
            Span.set_extension(flag, default=False)
    if not Span.has_extension("context_status"):
        Span.set_extension("context_status", default="")
    for cue in _CUES:
        if not Span.has_extension(f"{cue}_chars"):
            Span.set_extension(f"{cue}_chars", default=None)
        if not Span.has_extension(cue):
            Span.set_extension(cue, getter=_cue_getter(cue))


class ReportmineContext:
    """Marks each entity with its status, temporality and experiencer (see the module doc)."""

    def __init__(self, nlp: Language, name: str = "reportmine_context", *, dictionary: str | None = None,
                 language: str = "auto") -> None:
        self.name = name
        self.engine = AssertionEngine(dictionary, language)
        _register_extensions()

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        for ent in doc.ents:
            result = self.engine.at(text, (ent.start_char, ent.end_char))
            ent._.context_status = result.status
            ent._.is_negated = result.status == "negated"
            ent._.is_uncertain = result.status == "possible"
            ent._.is_historical = result.temporality == "historical"
            ent._.is_hypothetical = result.temporality == "hypothetical"
            ent._.is_family = result.experiencer == "other"
            ent._.context_cue_chars = list(result.cue_span) if result.cue_span else None
            ent._.temporality_cue_chars = list(result.temporality_cue_span) if result.temporality_cue_span else None
            ent._.experiencer_cue_chars = list(result.experiencer_cue_span) if result.experiencer_cue_span else None
        return doc


@Language.factory("reportmine_context", default_config={"dictionary": None, "language": "auto"})
def make_context(nlp: Language, name: str, dictionary: str | None, language: str) -> ReportmineContext:
    """spaCy factory of :class:`ReportmineContext` (``dictionary``: a folder or CSV, default shipped)."""
    return ReportmineContext(nlp, name, dictionary=dictionary, language=language)
