"""Issue 10's ynet findings (F2 F3 F4 F6 F7 F8 F9 F10), each test naming its finding.

Tiny phantom images (72×64) and a one-epoch, width-0.125 model keep these fast.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image

from reportmine.bench_cli import main as bench
from reportmine.compare.demo import make_demo_cohort
from ynet.cli import main as ynet

TINY = ["--fold", "0", "--epochs", "1", "--width", "0.125", "--image-size", "32", "--batch-size", "8",
        "--device", "cpu", "--quiet"]


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(err: str, prog: str = "ynet") -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prog) and "error:" in lines[0], err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("ynet-safety")
    manifest = make_demo_cohort(root / "cohort", n=40, seed=3)
    for folder in ("images", "masks"):
        for path in (root / "cohort" / folder).glob("*.png"):
            with Image.open(path) as im:
                im.resize((72, 64), Image.NEAREST).save(path)
    return manifest


@pytest.fixture(scope="module")
def model(cohort, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    assert ynet(["train", "--manifest", str(cohort), "--out", str(run), *TINY]) == 0
    return run / "fold_0" / "best.pt"


def _with(cohort: Path, tmp_path: Path, name: str, change) -> Path:
    frame = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    frame = change(frame)
    path = cohort.parent / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ F2

def test_f2_masks_dir_never_overwrites_the_reference_masks(cohort, model, tmp_path, capsys):
    masks = cohort.parent / "masks"
    before = _hashes(masks)
    for extra in ((), ("--force",)):
        code = ynet(["predict", "--model", str(model), "--manifest", str(cohort), "--out", str(tmp_path / "p.csv"),
                     "--masks-dir", str(masks), *extra])
        assert code == 2
        assert "holds the input" in _one_line_error(capsys.readouterr().err)
    assert _hashes(masks) == before and not (tmp_path / "p.csv").exists()


def test_f2_masks_dir_dot_never_overwrites_the_input_image(cohort, model, tmp_path, capsys, monkeypatch):
    images = cohort.parent / "images"
    monkeypatch.chdir(images)
    before = _hashes(images)
    code = ynet(["predict", "--model", str(model), "--images", "ph0001.png", "--out", str(tmp_path / "p.csv"),
                 "--masks-dir", "."])
    assert code == 2 and "holds the input" in _one_line_error(capsys.readouterr().err)
    assert _hashes(images) == before


def test_f2_the_library_call_never_overwrites_an_input_or_an_existing_file(cohort, model, tmp_path):
    """``ynet.predict.predict(masks_dir=…)`` (no staging, unlike the CLI) checks every mask it
    would write before scoring anything."""
    from reportmine.core.errors import InputError
    from ynet.predict import predict

    images = cohort.parent / "images"
    before = _hashes(images)
    with pytest.raises(InputError, match="would overwrite the input"):  # ids are the image names
        predict([model], manifest=cohort, masks_dir=images, device="cpu")
    assert _hashes(images) == before
    taken = tmp_path / "masks"
    taken.mkdir()
    first = pd.read_csv(cohort)["ln_id"].iloc[0]
    (taken / f"{first}.png").write_bytes(b"someone's file")
    with pytest.raises(InputError, match="exists; predicted masks are written to new files only"):
        predict([model], manifest=cohort, masks_dir=taken, device="cpu")
    assert sorted(p.name for p in taken.iterdir()) == [f"{first}.png"]
    table = predict([model], manifest=cohort, masks_dir=tmp_path / "new", device="cpu")
    assert all(Path(f).exists() and Path(f).parent == tmp_path / "new" for f in table["mask_file"])


# ------------------------------------------------------------------ F3

EVIL = ["../../escaped", "/tmp/absolute_escape_ynet_safety", "a/../../b", "..", "CON"]


def _evil_manifest(cohort: Path, tmp_path: Path) -> Path:
    def change(frame):
        for k, bad in enumerate(EVIL):
            frame.loc[frame.index[k], "ln_id"] = bad
        return frame
    return _with(cohort, tmp_path, "evil_ids", change)


def test_f3_node_ids_never_leave_the_masks_folder(cohort, model, tmp_path):
    evil = _evil_manifest(cohort, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    masks = work / "masks"
    assert ynet(["predict", "--model", str(model), "--manifest", str(evil), "--out", str(work / "p.csv"),
                 "--masks-dir", str(masks)]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["masks", "p.csv"]
    table = pd.read_csv(work / "p.csv", dtype=str, keep_default_na=False)
    assert set(EVIL) <= set(table["ln_id"])  # the ids are kept as data
    written = [Path(f) for f in table["mask_file"]]
    assert all(f.parent == masks and f.exists() for f in written)
    assert len({f.name.lower() for f in written}) == len(written)  # unique names
    assert not Path("/tmp/absolute_escape_ynet_safety.png").exists()
    assert not (cohort.parent.parent / "escaped.png").exists()


def test_f3_compare_with_evil_ids_writes_only_its_page(cohort, model, tmp_path, monkeypatch):
    evil = _evil_manifest(cohort, tmp_path)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmpdir))
    before = _hashes(cohort.parent.parent)
    assert bench(["compare", "--manifest", str(evil), "--model", str(model), "--threshold", "0.5", "--out",
                  str(tmp_path / "page")]) == 0
    assert _hashes(cohort.parent.parent) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page", "tmpdir"]
    assert list(tmpdir.iterdir()) == []


# ------------------------------------------------------------------ F4

def test_f4_predict_out_never_replaces_the_checkpoint_or_an_image(cohort, model, tmp_path, capsys):
    image = cohort.parent / "images" / "ph0002.png"
    for argv, victim in ((["--manifest", str(cohort), "--out", str(model)], model),
                         (["--images", str(image), "--out", str(image)], image),
                         (["--manifest", str(cohort), "--out", str(cohort)], cohort),
                         (["--manifest", str(cohort), "--out", str(cohort.parent / "masks" / "ph0003.png")],
                          cohort.parent / "masks" / "ph0003.png")):
        before = victim.read_bytes()
        assert ynet(["predict", "--model", str(model), *argv]) == 2
        assert "would overwrite the input" in _one_line_error(capsys.readouterr().err)
        assert victim.read_bytes() == before


# ------------------------------------------------------------------ F6

@pytest.mark.parametrize("entry", ["boom", [1, 2, 3], {"nonsense": 1}, {"size": 10**9}, {"size": -4},
                                   {"size": "large"}, {"mark_level": float("nan")}])
def test_f6_crafted_preprocessing_is_one_line(model, tmp_path, capsys, entry):
    state = torch.load(model, weights_only=True)
    crafted = tmp_path / "crafted.pt"
    torch.save({**state, "preprocessing": entry}, crafted)
    image = tmp_path / "x.png"
    Image.new("L", (40, 30), 90).save(image)
    assert ynet(["predict", "--model", str(crafted), "--images", str(image), "--out", str(tmp_path / "p.csv")]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "crafted.pt" in line and "preprocessing" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.pt", "x.png"]


@pytest.mark.parametrize("width", ["inf", "64", "nan", "0"])
def test_f6_info_width_checked(width, capsys):
    assert ynet(["info", "--width", width]) == 2
    assert "--width" in _one_line_error(capsys.readouterr().err)


def test_f6_masks_dir_file_splits_without_split_and_out_file(cohort, model, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    splits = tmp_path / "splits.csv"
    splits.write_text("id,part\nph0001,test\n")
    for argv, says in ((["predict", "--model", str(model), "--manifest", str(cohort), "--out",
                         str(tmp_path / "p.csv"), "--masks-dir", str(a_file)], "not a folder"),
                       (["predict", "--model", str(model), "--manifest", str(cohort), "--splits", str(splits),
                         "--split", "test", "--out", str(tmp_path / "p.csv")], "no column 'split'"),
                       (["train", "--manifest", str(cohort), "--out", str(a_file), *TINY], "not a folder")):
        assert ynet(argv) == 2
        assert says in _one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "splits.csv"]


# ------------------------------------------------------------------ F7

def test_f7_one_class_training_refused_before_training(cohort, tmp_path, capsys):
    benign = _with(cohort, tmp_path, "benign_only", lambda f: f[f["label"] == "benign"])
    assert ynet(["train", "--manifest", str(benign), "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "both classes" in _one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--epochs", "-1"), ("--patience", "0"),
                                           ("--test-fraction", "1.5"), ("--test-fraction", "0"),
                                           ("--batch-size", "0")])
def test_f7_f10_training_options_checked(cohort, tmp_path, capsys, option, value):
    argv = [x for x in TINY]
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    assert ynet(["train", "--manifest", str(cohort), "--out", str(tmp_path / "run"), *argv]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert option in line and "range()" not in line
    assert not (tmp_path / "run").exists()


def test_f7_done_json_is_strict_json(model):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    for path in model.parent.glob("*.json"):
        json.loads(path.read_text(), parse_constant=refuse)
    for path in model.parent.parent.glob("*.json"):
        json.loads(path.read_text(), parse_constant=refuse)


def test_f7_nan_probability_is_an_error_not_benign(model, tmp_path, capsys):
    state = torch.load(model, weights_only=True)
    state["state_dict"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                           for k, v in state["state_dict"].items()}
    broken = tmp_path / "nan.pt"
    torch.save(state, broken)
    image = tmp_path / "x.png"
    Image.new("L", (40, 30), 90).save(image)
    assert ynet(["predict", "--model", str(broken), "--images", str(image), "--out", str(tmp_path / "p.csv")]) == 2
    assert "x.png" in _one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------ F8

def test_f8_failed_training_does_not_block_its_retry(cohort, tmp_path, capsys):
    run = tmp_path / "run"

    def third_train_row_missing(frame):
        row = frame.index[(frame["split"] == "train")][2]
        frame.loc[row, "image"] = "images/missing.png"
        return frame
    broken = _with(cohort, tmp_path, "broken_manifest", third_train_row_missing)
    assert ynet(["train", "--manifest", str(broken), "--out", str(run), *TINY]) == 2
    assert "missing.png" in _one_line_error(capsys.readouterr().err)
    assert not run.exists()
    cuda = [x if x != "cpu" else "cuda" for x in TINY]
    if not torch.cuda.is_available():
        assert ynet(["train", "--manifest", str(cohort), "--out", str(run), *cuda]) == 2
        assert "CUDA" in _one_line_error(capsys.readouterr().err)
        assert not run.exists()
    run.mkdir()  # an existing empty folder is kept, and left empty after a failure
    assert ynet(["train", "--manifest", str(broken), "--out", str(run), *TINY]) == 2
    capsys.readouterr()
    assert list(run.iterdir()) == []
    assert ynet(["train", "--manifest", str(cohort), "--out", str(run), *TINY]) == 0
    assert (run / "fold_0" / "best.pt").exists()


# ------------------------------------------------------------------ F9

def test_f9_bad_image_in_batch_3_leaves_no_masks_and_no_csv(cohort, model, tmp_path, capsys):
    def bad_row_20(frame):
        frame.loc[frame.index[20], "image"] = "images/garbage.png"
        return frame
    (cohort.parent / "images" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    broken = _with(cohort, tmp_path, "garbage_in_batch_3", bad_row_20)
    assert ynet(["predict", "--model", str(model), "--manifest", str(broken), "--batch-size", "8", "--out",
                 str(tmp_path / "p.csv"), "--masks-dir", str(tmp_path / "masks")]) == 2
    assert "garbage.png" in _one_line_error(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ F10

def test_f10_two_row_manifest_says_why(cohort, tmp_path, capsys):
    two = _with(cohort, tmp_path, "two_rows", lambda f: f.iloc[:2].assign(split=""))
    assert ynet(["train", "--manifest", str(two), "--out", str(tmp_path / "run"), *TINY]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "patient" in line and "n_splits" not in line
    assert not (tmp_path / "run").exists()


def test_f10_predict_batch_size_0(cohort, model, tmp_path, capsys):
    assert ynet(["predict", "--model", str(model), "--manifest", str(cohort), "--out", str(tmp_path / "p.csv"),
                 "--batch-size", "0"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "--batch-size" in line and "range()" not in line


def test_ynet_unexpected_error_says_debug(monkeypatch, capsys):
    import ynet.model as model_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(model_module, "count_parameters", broken)
    assert ynet(["info"]) == 1
    err = capsys.readouterr().err
    assert "--debug" in err and "Traceback" not in err
    assert ynet(["info", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_cleanup_helper_keeps_a_run_with_checkpoints(cohort, tmp_path, capsys):
    """A failure after a checkpoint keeps the run (it can be resumed)."""
    run = tmp_path / "run"
    assert ynet(["train", "--manifest", str(cohort), "--out", str(run), *TINY]) == 0
    shutil.rmtree(run / "fold_0" / "best.pt", ignore_errors=True) if (run / "fold_0" / "best.pt").is_dir() else None
    assert ynet(["train", "--manifest", str(cohort), "--out", str(run), *TINY]) == 2
    assert "previous run" in _one_line_error(capsys.readouterr().err)
    assert (run / "fold_0" / "best.pt").exists()
