"""reportmine: mine ultrasound reports into lymph-node labels and compare them with pathology.

Library entry points::

    from reportmine import ReportClassifier, classify_text, classify_file
    result = classify_text("Right level III node with microcalcifications.")
    result.label, result.reason
    reportmine.assertion("No fever, chills, or cough.", "cough").status   # 'negated'

Submodules load on first use, so ``reportmine.stats`` and the ``benchmark`` calculators
start without the text-mining stack.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "ClassifySummary": "mining.batch", "classify_file": "mining.batch", "classify_frame": "mining.batch",
    "ReportClassifier": "mining.classify", "ReportResult": "mining.classify", "classify_text": "mining.classify",
    "Assertion": "mining.assertion", "AssertionEngine": "mining.assertion",
    "context_file": "mining.context_table",
    "Dictionary": "mining.dictionary", "DictionaryError": "mining.dictionary",
    "load_dictionary": "mining.dictionary",
}
__all__ = sorted([*_EXPORTS, "assertion"])


def __getattr__(name):
    if name == "assertion":  # the module is callable: reportmine.assertion(text, term)
        return import_module(".mining.assertion", __name__)
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'reportmine' has no attribute {name!r}")
