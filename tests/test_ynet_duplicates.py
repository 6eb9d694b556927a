"""Duplicate-aware grouping: exact and near-duplicate images share a split group; duplicates with
opposite labels are excluded and named; `ynet duplicates` writes the pair report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ynet.cli import main as ynet_main
from ynet.duplicates import THRESHOLD, find_duplicates, regroup
from ynet.manifest import read_manifest
from ynet.phantom import write_phantom_cohort


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A phantom cohort with three planted copies: an exact copy (same label), a brighter,
    noisier copy with the opposite label, and a JPEG re-encoding of a third image."""
    root = tmp_path_factory.mktemp("dups")
    manifest = write_phantom_cohort(root, 30, seed=4)
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(0)

    def copy(source_row: int, new_id: str, label: str, transform, suffix: str = ".png") -> dict:
        row = table.iloc[source_row].to_dict()
        pixels = np.asarray(Image.open(root / row["image"]).convert("L"), dtype=np.float64)
        target = f"images/{new_id}{suffix}"
        Image.fromarray(np.clip(transform(pixels), 0, 255).astype(np.uint8)).save(root / target)
        return row | {"ln_id": new_id, "image": target, "label": label, "patient_id": f"other-{new_id}"}

    flip = {"benign": "malignant", "malignant": "benign"}
    rows = [copy(0, "dup_exact", table.iloc[0]["label"], lambda p: p),
            copy(1, "dup_conflict", flip[table.iloc[1]["label"]],
                 lambda p: p * 1.1 + 8 + rng.normal(0, 4, p.shape)),
            copy(2, "dup_jpeg", table.iloc[2]["label"], lambda p: p, suffix=".jpg")]
    pd.concat([table, pd.DataFrame(rows)]).to_csv(manifest, index=False)
    return manifest


def _reference_thumbnails(manifest) -> np.ndarray:
    """32 × 32 bilinear thumbnails made independently of ynet (PIL on 8-bit grayscale)."""
    return np.stack([np.asarray(Image.open(n.image).convert("L").resize((32, 32), Image.BILINEAR),
                                dtype=np.float64).ravel() for n in manifest.nodes])


def test_every_pair_above_095_shares_a_group_and_planted_copies_are_found(planted):
    manifest = read_manifest(planted)
    report = find_duplicates(manifest)
    ids = [n.id for n in manifest.nodes]
    corr = np.corrcoef(_reference_thumbnails(manifest))
    must = [(ids[i], ids[j]) for i, j in zip(*np.nonzero(np.triu(corr, 1) > 0.95))]
    assert {("ph0001", "dup_exact"), ("ph0002", "dup_conflict"), ("ph0003", "dup_jpeg")} <= set(must)
    for a, b in must:  # the floor, checked with thumbnails ynet did not make
        assert report.groups[a] == report.groups[b], (a, b)
    found = {(p.a, p.b): p for p in report.pairs}
    assert found[("ph0001", "dup_exact")].exact and found[("ph0001", "dup_exact")].score == 1.0
    assert not found[("ph0003", "dup_jpeg")].exact
    # the scores are Pearson correlations of the thumbnails (numpy's own, on ynet's thumbnails)
    jpeg = found[("ph0003", "dup_jpeg")].score
    assert jpeg == pytest.approx(corr[ids.index("ph0003"), ids.index("dup_jpeg")], abs=0.01)
    # nothing else is joined: every reported pair really is above the threshold
    assert all(p.exact or p.score > THRESHOLD for p in report.pairs)
    assert report.conflicts == (("dup_conflict", "ph0002"),)


def test_conflicting_duplicates_are_excluded_by_default_and_kept_on_request(planted):
    manifest = read_manifest(planted)
    report = find_duplicates(manifest)
    kept, excluded = regroup(manifest, report)
    assert excluded == ["dup_conflict", "ph0002"]
    assert {"dup_conflict", "ph0002"}.isdisjoint(n.id for n in kept.nodes)
    groups = {n.id: n.group for n in kept.nodes}
    assert groups["ph0001"] == groups["dup_exact"] and groups["ph0003"] == groups["dup_jpeg"]
    everything, none = regroup(manifest, report, drop_conflicts=False)
    assert none == [] and len(everything.nodes) == len(manifest.nodes)
    record = report.record(excluded)
    assert [e["id"] for e in record["excluded"]] == excluded
    assert record["conflicting_clusters"] == [["dup_conflict", "ph0002"]]
    assert all(e["reason"] == "duplicate of an image with the other label" for e in record["excluded"])


def test_ynet_duplicates_writes_the_pair_report(planted, tmp_path, capsys):
    out = tmp_path / "pairs.csv"
    assert ynet_main(["duplicates", "--manifest", str(planted), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "duplicate pair(s)" in said and str(out) in said
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert list(table.columns) == ["id_a", "id_b", "score", "exact", "label_a", "label_b", "conflict", "group"]
    row = table.set_index(["id_a", "id_b"]).loc[("ph0002", "dup_conflict")]
    assert bool(row["conflict"]) and {row["label_a"], row["label_b"]} == {"benign", "malignant"}
    # a threshold outside (0, 1) is one line, exit 2
    assert ynet_main(["duplicates", "--manifest", str(planted), "--out", str(tmp_path / "x.csv"),
                      "--threshold", "1.5"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()


def test_ynet_train_splits_by_duplicate_groups_and_records_the_exclusions(planted, tmp_path):
    run = tmp_path / "run"
    assert ynet_main(["train", "--manifest", str(planted), "--out", str(run), "--fold", "0", "--folds", "3",
                      "--epochs", "1", "--width", "0.25", "--image-size", "64", "--batch-size", "4",
                      "--device", "cpu", "--quiet"]) == 0
    record = json.loads((run / "run.json").read_text())
    assert [e["id"] for e in record["duplicates"]["excluded"]] == ["dup_conflict", "ph0002"]
    assert record["train_config"]["duplicate_threshold"] == THRESHOLD
    splits = pd.read_csv(run / "splits.csv", dtype=str).set_index("id")
    assert "dup_conflict" not in splits.index and "ph0002" not in splits.index
    for a, b in (("ph0001", "dup_exact"), ("ph0003", "dup_jpeg")):
        assert splits.loc[a, "group"] == splits.loc[b, "group"]
        assert (splits.loc[a, "split"], splits.loc[a, "fold"]) == (splits.loc[b, "split"], splits.loc[b, "fold"])


def test_the_comparison_counts_near_duplicates_as_one_cluster_and_warns_of_a_leak(planted):
    from reportmine.compare.analysis import choose_unit
    from reportmine.compare.run import _clusters

    manifest = read_manifest(planted)
    notes: list[str] = []
    scored = [n.id for n in manifest.nodes if n.id not in ("ph0003",)]  # dup_jpeg scored, its twin not
    clusters, groups = _clusters(manifest, scored, THRESHOLD, notes)
    assert clusters["ph0001"] == clusters["dup_exact"]  # two patients, one lesion: one cluster
    assert (groups.one, groups.many) == ("patient or near-duplicate group", "patients or near-duplicate groups")
    assert any("near duplicate outside the scored split" in n and "dup_jpeg" in n for n in notes)
    clustered, why = choose_unit(None, clusters, "nodes", groups)
    assert clustered and "share a patient or near-duplicate group" in why
