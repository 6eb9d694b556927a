"""Report mining: dictionaries, matching, negation and hedging, and the report classifier.

One module per job, in reading order:

* :mod:`.dictionary` loads and checks the clinician-editable dictionaries;
* :mod:`.matching` finds their terms in English and Chinese text (exact and fuzzy);
* :mod:`.grammar` holds the grammar words (clause marks, conjunctions, copulas, level and
  side words) as named tables;
* :mod:`.clauses` cuts a piece of a report into clauses and matches each once;
* :mod:`.scope` decides which negation or hedge reaches a finding (NegEx/ConText);
* :mod:`.statements` reads pieces into findings and groups them into node statements;
* :mod:`.anatomy` reads the neck levels and side a statement names;
* :mod:`.properties` reads ConText's temporality and experiencer;
* :mod:`.node_status` reads a node concept as "is an abnormal node asserted?";
* :mod:`.reader` memoises the reading (reports repeat their sentences);
* :mod:`.classify` turns a report's node statements into a label with its reason;
* :mod:`.batch` runs the classifier over a table (``reportmine classify``);
* :mod:`.overrides` applies a reviewer's corrections to the labels;
* :mod:`.assertion` is the negation engine on one concept (``reportmine.assertion``) and
  :mod:`.context_table` runs it over a table (``reportmine context``);
* :mod:`.spacy_component` is the engine as a spaCy pipeline component (``reportmine[spacy]``;
  the only module that imports spaCy).

The public entry points are re-exported by :mod:`reportmine` itself.
"""
