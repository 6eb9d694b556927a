"""reportmine: mine ultrasound reports into lymph-node labels and compare them with pathology.

Library entry points::

    from reportmine import ReportClassifier, classify_text, classify_file
    result = classify_text("Right level III node with microcalcifications.")
    result.label, result.reason
"""

from .batch import ClassifySummary, classify_file, classify_frame
from .classify import ReportClassifier, ReportResult, classify_text
from .dictionary import Dictionary, DictionaryError, load_dictionary

__all__ = [
    "ClassifySummary",
    "Dictionary",
    "DictionaryError",
    "ReportClassifier",
    "ReportResult",
    "classify_file",
    "classify_frame",
    "classify_text",
    "load_dictionary",
]
__version__ = "0.1.0"
