"""Review the labels of ``reportmine classify`` in a browser, and feed corrections back.

* :mod:`~reportmine.review.source` reads a classify output (results + evidence, and the
  run record saying which dictionary and options produced it);
* :mod:`~reportmine.review.marks` places the evidence, the cues and their scope on each
  report's text and says why a report needs a second look;
* :mod:`~reportmine.review.page` writes the one self-contained HTML page;
* :mod:`~reportmine.mining.overrides` reads the reviewer's corrections CSV and applies it
  (``reportmine classify --overrides``, ``benchmark compare --report-overrides``).
"""

from ..mining.overrides import Overrides, read_overrides
from .page import ReviewPage, build_review, write_review
from .source import ClassifyOutput, read_classify_output

__all__ = ["ClassifyOutput", "Overrides", "ReviewPage", "build_review", "read_classify_output",
           "read_overrides", "write_review"]
