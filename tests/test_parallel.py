"""`classify --jobs N` gives the same output as one process; the Dask recipe of docs/mining.md."""

import json

import pandas as pd

from reportmine.cli import main
from reportmine.mining.batch import (
    RESULT_COLUMNS,
    classify_file,
    classify_frame,
    classify_partition,
    resolve_jobs,
)

TEXTS = [
    "Left level II node, reactive.",
    "右侧IV区淋巴结伴微钙化。",
    "No cervical lymphadenopathy.",
    "Right level III node; metastasis cannot be excluded.",
    "双侧颈部未见明显肿大淋巴结。",
    "Left level IV node with no fatty hilum and with internal cystic change.",
    "",
]


def _cohort(tmp_path, n=700):
    src = tmp_path / "cohort.csv"
    rows = [{"ln_id": f"n{i}", "report_text": TEXTS[i % len(TEXTS)] + ("" if i % 3 else f" {i} mm."),
             "gold": "x" if i % 2 else "y"} for i in range(n)]
    pd.DataFrame(rows).to_csv(src, index=False)
    return src


def test_jobs_output_identical_to_one_process(tmp_path, capsys):
    src = _cohort(tmp_path)
    outputs = {}
    for jobs in ("1", "2", "0"):
        out = tmp_path / f"out{jobs}.csv"
        code = main(["classify", str(src), "--out", str(out), "--quiet", "--jobs", jobs])
        assert code == 0, capsys.readouterr().err
        printed = capsys.readouterr().out.splitlines()
        outputs[jobs] = (out.read_bytes(), out.with_suffix(".evidence.csv").read_bytes(),
                         [line for line in printed[1:] if "written:" not in line])  # counts, not times
        record = json.loads(out.with_suffix(".run.json").read_text())
        assert record["config"]["jobs"] == (resolve_jobs(0) if jobs == "0" else int(jobs))
    assert outputs["2"] == outputs["1"] and outputs["0"] == outputs["1"]
    frame = pd.read_csv(tmp_path / "out1.csv", dtype=str, keep_default_na=False)
    assert list(frame["id"]) == [f"n{i}" for i in range(700)]  # order kept


def test_jobs_with_small_chunks_keeps_order(tmp_path):
    src = _cohort(tmp_path, 230)
    one = classify_file(src, tmp_path / "a.csv", chunksize=17)
    two = classify_file(src, tmp_path / "b.csv", chunksize=17, jobs=2)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert one.labels == two.labels and one.rules == two.rules and one.n_reports == two.n_reports == 230


def test_bad_jobs_value(tmp_path, capsys):
    src = _cohort(tmp_path, 3)
    assert main(["classify", str(src), "--quiet", "--jobs", "-1"]) == 2
    assert "--jobs" in capsys.readouterr().err
    assert not (tmp_path / "cohort.classified.csv").exists()


def test_dask_recipe_on_a_local_cluster(tmp_path):
    import dask.dataframe as dd
    import distributed
    src = _cohort(tmp_path, 300)
    expected, _ = classify_frame(pd.read_csv(src, dtype=str, keep_default_na=False))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        # the recipe in docs/mining.md
        reports = dd.read_csv(str(src), dtype=str, keep_default_na=False, blocksize=4000)
        assert reports.npartitions > 1
        meta = classify_partition(reports._meta, text_col="report_text")
        results = reports.map_partitions(classify_partition, text_col="report_text", meta=meta)
        got = results.compute()
    assert list(got.columns) == list(RESULT_COLUMNS) + ["ln_id", "gold"]
    assert list(got["label"]) == list(expected["label"])
    assert list(got["id"]) == list(expected["id"]) and list(got["reason"]) == list(expected["reason"])


def test_jobs_without_fork_spawns_workers_that_build_their_classifier(tmp_path, monkeypatch):
    import multiprocessing

    src = _cohort(tmp_path, 60)
    classify_file(src, tmp_path / "a.csv", chunksize=20)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    classify_file(src, tmp_path / "b.csv", chunksize=20, jobs=2)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
