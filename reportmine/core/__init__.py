"""The neutral core every other part of the toolkit builds on.

It imports nothing else of ours, so mining, statistics, ``ynet`` and the comparison can all
use it without depending on each other:

* :mod:`~reportmine.core.labels` — the benign / malignant / indeterminate vocabulary;
* :mod:`~reportmine.core.provenance` — versions, file hashes and the run record;
* :mod:`~reportmine.core.inputs` — an input checked before it is opened (a regular file, of
  bounded size);
* :mod:`~reportmine.core.tables` — reading untrusted .csv / .xlsx tables;
* :mod:`~reportmine.core.outputs` — the one output policy (atomic files, folder outputs,
  never an input overwritten, spreadsheet formulas escaped);
* :mod:`~reportmine.core.terminal` — control characters escaped in what reaches a terminal;
* :mod:`~reportmine.core.errors` — the error every expected failure raises, and the one
  error path the command-line tools share.
"""
