"""A reviewer's corrections (the CSV the review page downloads) and applying them.

The file has the columns ``id, label, note, reviewer_label_time``; ``label`` is malignant,
benign or indeterminate (1/0 and the other spellings of :mod:`reportmine.core.labels` are
read too). Applying keeps the machine's label in ``machine_label`` so that agreement between
machine and reviewer can be reported, and counts what was changed for the run record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from ..core.labels import REPORT_LABELS, report_label
from ..core.outputs import carried_names, cell_values, unescape_cell
from ..core.provenance import file_sha256
from ..core.tables import read_table, require_columns

OVERRIDE_COLUMNS = ("id", "label", "note", "reviewer_label_time")
#: Columns a classify output gains when overrides are applied.
ADDED_COLUMNS = ("reviewed", "machine_label", "reviewer_note", "reviewer_label_time")


@dataclass(frozen=True)
class Correction:
    label: str
    note: str
    time: str
    row: int  # row in the corrections file (for error messages)


@dataclass(frozen=True)
class Overrides:
    """Corrections by report id, read from ``path``."""

    path: Path
    corrections: dict[str, Correction]
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.corrections)

    def summary(self) -> str:
        return f"{len(self)} correction(s) from {self.path}"


def _label(value, path: Path, row: int) -> str:
    label = report_label(value or "")
    if label is None:
        raise InputError(f"{path}: row {row}, column label: {str(value)!r} is not a label "
                         f"({', '.join(REPORT_LABELS)})")
    return label


def read_overrides(path: str | Path) -> Overrides:
    """Read a corrections CSV/XLSX; one-line error naming file, row and column for a bad row."""
    path = Path(path)
    frame = read_table(path)
    require_columns(path, frame.columns, ("id", "label"))
    corrections: dict[str, Correction] = {}
    for row, record in zip(frame.index, frame.to_dict("records")):
        report_id = str(unescape_cell(record.get("id") or "")).strip()
        if not report_id:
            raise InputError(f"{path}: row {row}, column id: empty")
        if report_id in corrections:
            raise InputError(f"{path}: row {row}, column id: {report_id!r} already corrected in row "
                             f"{corrections[report_id].row}")
        corrections[report_id] = Correction(_label(record.get("label"), path, row),
                                            str(unescape_cell(record.get("note") or "")),
                                            str(record.get("reviewer_label_time") or ""), int(row))
    if not corrections:
        raise InputError(f"{path}: no corrections (the file has a header only)")
    return Overrides(path, corrections, file_sha256(path))


@dataclass
class OverrideApplier:
    """Applies :class:`Overrides` to result rows as they stream past, then checks that every
    correction found its report. Used by ``reportmine classify --overrides``."""

    overrides: Overrides
    seen: set = field(default_factory=set)
    changed: int = 0

    def columns(self, columns: Iterable[str]) -> tuple[str, ...]:
        columns = tuple(columns)
        return columns + tuple(c for c in ADDED_COLUMNS if c not in columns)

    def carried(self, carried: list[tuple[object, str]]) -> list[tuple[object, str]]:
        """Input columns kept in the results, renamed ``input_<name>`` where a name is one we add."""
        names = carried_names([out for _, out in carried], ADDED_COLUMNS)
        return [(column, out) for (column, _), (_, out) in zip(carried, names)]

    def apply(self, rows: list[dict]) -> list[dict]:
        """Rows (``id``, ``label``, optionally ``label_3class``) with the corrections applied."""
        for row in rows:
            machine = row.get("label", "")
            row["machine_label"] = machine
            c = self.overrides.corrections.get(str(row.get("id", "")).strip())
            if c is None:
                row.update(reviewed=False, reviewer_note="", reviewer_label_time="")
                continue
            self.seen.add(str(row["id"]).strip())
            if c.label != machine:
                self.changed += 1
            row.update(label=c.label, reviewed=True, reviewer_note=c.note, reviewer_label_time=c.time)
            if "label_3class" in row:
                row["label_3class"] = c.label
        return rows

    def apply_cells(self, columns: Sequence[str], cells: list[list]) -> list[list]:
        """:meth:`apply` on rows of written cells (``columns`` order, formula-escaped), as the
        classifier's worker processes hand them over."""
        index = {c: i for i, c in enumerate(columns)}
        touched = [c for c in ("id", "label", "label_3class", *ADDED_COLUMNS) if c in index]
        for values in cells:
            row = {c: unescape_cell(values[index[c]]) for c in touched}
            self.apply([row])
            del row["id"]  # unchanged; keep the cell as written
            for column, cell in zip(row, cell_values(list(row), [row])[0]):
                values[index[column]] = cell
        return cells

    def finish(self, source: str | Path) -> dict:
        """The run record's ``overrides`` block; an error if a correction matched no report."""
        unknown = [i for i in self.overrides.corrections if i not in self.seen]
        if unknown:
            c = self.overrides.corrections[unknown[0]]
            raise InputError(f"{self.overrides.path}: row {c.row}, column id: {unknown[0]!r} is not a "
                             f"report of {source} ({len(unknown)} correction(s) match no report)")
        return self.record()

    def record(self) -> dict:
        return {"file": str(self.overrides.path), "sha256": self.overrides.sha256,
                "corrections": len(self.overrides), "reviewed": len(self.seen),
                "labels_overridden": self.changed, "confirmed": len(self.seen) - self.changed}


def apply_to_calls(overrides: Overrides, ids: list[str], labels: list[str], source: str | Path,
                   *, known_ids: Iterable[str] = (), restrict_to: Iterable[str] | None = None
                   ) -> tuple[list[str], dict]:
    """Report labels with the corrections applied, and the run-record block.

    A correction for an id in ``known_ids`` but not in ``ids`` (a node of another split) is
    left out; one for an id in neither is an error. ``restrict_to``: count only these ids.
    """
    present = {str(i).strip() for i in ids}
    known = present | {str(i).strip() for i in known_ids}
    unknown = [i for i in overrides.corrections if i not in known]
    if unknown:
        c = overrides.corrections[unknown[0]]
        raise InputError(f"{overrides.path}: row {c.row}, column id: {unknown[0]!r} is not a report of "
                         f"{source} ({len(unknown)} correction(s) match no report)")
    usable = Overrides(overrides.path, {i: c for i, c in overrides.corrections.items() if i in present},
                       overrides.sha256)
    applier = OverrideApplier(usable)
    rows = applier.apply([{"id": i, "label": lab} for i, lab in zip(ids, labels)])
    record = applier.finish(source) | {"corrections": len(overrides)}
    if restrict_to is not None:
        keep = {str(i).strip() for i in restrict_to}
        in_split = [r for r in rows if str(r["id"]).strip() in keep and r["reviewed"]]
        record.update(reviewed=len(in_split),
                      labels_overridden=sum(1 for r in in_split if r["label"] != r["machine_label"]))
        record["confirmed"] = record["reviewed"] - record["labels_overridden"]
    return [r["label"] for r in rows], record
