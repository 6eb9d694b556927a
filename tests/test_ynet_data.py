"""Y-Net data: manifest validation, image/mask readers (PNG, JPEG, DICOM), preprocessing, splits."""

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ynet.data import (
    Augmentation,
    DataError,
    Preprocessing,
    augment,
    field_box,
    preprocess,
    read_image,
    read_manifest,
    read_mask,
)
from ynet.phantom import make_phantom, write_phantom_cohort
from ynet.splits import assign_splits, load_or_assign


def _manifest(tmp_path: Path, rows, columns=("ln_id", "patient_id", "image", "mask", "label")) -> Path:
    path = tmp_path / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _png(path: Path, array) -> str:
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path.name


def _dicom(path: Path, pixels: np.ndarray, photometric: str, frames: int = 1) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # ultrasound image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if photometric == "RGB" else pixels.shape[-2:]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_manifest_validation_messages(tmp_path):
    img = _png(tmp_path / "a.png", np.zeros((32, 32)))
    good = [["n1", "p1", img, "", "benign"], ["n2", "p1", img, "", "malignant"], ["n3", "p2", img, "", "normal"]]
    with pytest.raises(DataError, match=r"row 4, column label: 'normal'"):
        read_manifest(_manifest(tmp_path, good))
    m = read_manifest(_manifest(tmp_path, good), exclude_labels=["normal"])
    assert len(m) == 2 and m.excluded == 1 and m.nodes[0].group == "p1"
    with pytest.raises(DataError, match=r"row 3: duplicate ln_id 'n1'"):
        read_manifest(_manifest(tmp_path, [good[0], good[0]]))
    with pytest.raises(DataError, match="needs columns"):
        read_manifest(_manifest(tmp_path, [["x"]], columns=("name",)))
    with pytest.raises(DataError, match="no rows"):
        read_manifest(_manifest(tmp_path, []))
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")


def test_png_jpeg_and_dicom_readers(tmp_path):
    gray = (np.arange(64 * 48).reshape(48, 64) % 251).astype(np.uint8)
    _png(tmp_path / "g.png", gray)
    Image.fromarray(gray).save(tmp_path / "g.jpg", quality=95)
    png, rgb = read_image(tmp_path / "g.png")
    assert rgb is None and np.allclose(png * 255, gray)
    jpg, _ = read_image(tmp_path / "g.jpg")
    assert jpg.shape == gray.shape and np.abs(jpg * 255 - gray).mean() < 6

    mono = _dicom(tmp_path / "m.dcm", gray, "MONOCHROME2")
    out, rgb = read_image(mono)
    assert rgb is None and np.allclose(out, (gray - gray.min()) / (gray.max() - gray.min()))

    colour = np.stack([gray, gray, gray], -1).copy()
    colour[5:10, 5:10] = [255, 0, 0]  # a colour overlay
    rgb_path = _dicom(tmp_path / "rgb.dcm", colour, "RGB")
    out, rgb = read_image(rgb_path)
    assert rgb is not None and rgb.shape == (48, 64, 3)
    assert np.isclose(out[20, 20], gray[20, 20] / 255, atol=1e-6)  # R = G = B → same grey

    frames = np.stack([gray, 255 - gray])
    multi = _dicom(tmp_path / "multi.dcm", frames, "MONOCHROME2", frames=2)
    second, _ = read_image(multi, frame=1)
    inverse = (255 - gray).astype(float)
    assert np.allclose(second, (inverse - inverse.min()) / (inverse.max() - inverse.min()), atol=1e-6)
    with pytest.raises(DataError, match="frame 5"):
        read_image(multi, frame=5)
    (tmp_path / "bad.dcm").write_bytes(b"not a dicom")
    with pytest.raises(DataError, match="bad.dcm"):
        read_image(tmp_path / "bad.dcm")
    with pytest.raises(DataError, match="image not found"):
        read_image(tmp_path / "none.png")


def test_masks_are_unioned_and_checked(tmp_path):
    a = np.zeros((20, 30), np.uint8)
    b = np.zeros((20, 30), np.uint8)
    a[2:5, 2:5] = 255
    b[10:12, 10:20] = 1  # any non-zero value is foreground
    _png(tmp_path / "a.png", a)
    _png(tmp_path / "b.png", b)
    union = read_mask([tmp_path / "a.png", tmp_path / "b.png"], (20, 30), "row 2")
    assert union.sum() == 9 + 20
    with pytest.raises(DataError, match="is 30×20 but the image is 40×20"):
        read_mask([tmp_path / "a.png"], (20, 40), "row 2")
    _png(tmp_path / "grey.png", np.arange(600).reshape(20, 30) % 200)
    with pytest.raises(DataError, match="not binary"):
        read_mask([tmp_path / "grey.png"], (20, 30), "row 2")


def test_preprocessing_removes_burned_in_marks_and_crops_to_field():
    for seed in range(4):
        with_marks = make_phantom(seed, seed % 2 == 0, overlays=True)
        clean = make_phantom(seed, seed % 2 == 0, overlays=False)
        assert with_marks.overlay.sum() > 100
        p = Preprocessing()
        g1 = with_marks.image.astype(np.float32) / 255
        g0 = clean.image.astype(np.float32) / 255
        a, b = preprocess(g1, None, with_marks.mask, p), preprocess(g0, None, clean.mask, p)
        # the crop finds the ultrasound field (within the speckle's few pixels)
        t, bot, left, r = a.box
        ft, fb, fl, fr = with_marks.field
        assert abs(t - ft) <= 5 and abs(bot - fb) <= 5 and abs(left - fl) <= 5 and abs(r - fr) <= 5
        # after preprocessing, the image with marks is close to the image without them
        raw_gap = np.abs(g1 - g0)[with_marks.overlay].mean() * 255
        gap = np.abs(a.image.astype(float) - b.image.astype(float))
        assert raw_gap > 80 and gap.mean() < 1.5 and np.percentile(gap, 99.9) < 60
        assert a.mask.sum() > 0 and (a.mask == b.mask).all()


def test_field_box_of_a_plain_image_is_the_whole_image():
    flat = np.full((40, 50), 0.5, np.float32)
    assert field_box(flat, Preprocessing()) == (0, 40, 0, 50)


def test_augmentation_moves_image_and_mask_together():
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[20:40, 10:30] = True
    image = mask.float()[None] * 2 - 1
    a = Augmentation(brightness=0, contrast=0, speckle=0)
    for seed in range(5):
        img, m = augment(image, mask, a, torch.Generator().manual_seed(seed))
        agree = ((img[0] > 0) == m).float().mean()
        assert agree > 0.98
    # deterministic from the generator's seed
    x1, m1 = augment(image, mask, Augmentation(), torch.Generator().manual_seed(7))
    x2, m2 = augment(image, mask, Augmentation(), torch.Generator().manual_seed(7))
    assert torch.equal(x1, x2) and torch.equal(m1, m2)


def test_grouped_stratified_splits_never_leak(tmp_path):
    manifest = read_manifest(write_phantom_cohort(tmp_path / "c", 60, seed=3))
    table = assign_splits(manifest, folds=5, test_fraction=0.2, seed=1)
    by_group = table.groupby("group")
    assert (by_group["split"].nunique() == 1).all()
    assert (by_group["fold"].nunique() == 1).all()
    assert 0.1 < (table["split"] == "test").mean() < 0.3
    train = table[table["split"] == "train"]
    assert set(train["fold"]) == set(range(5)) and (table.loc[table["split"] == "test", "fold"] == -1).all()
    for k in range(5):  # stratified: every fold holds both classes
        assert set(train.loc[train["fold"] == k, "label"]) == {0, 1}


def test_splits_are_saved_reused_and_never_recomputed_silently(tmp_path):
    manifest_path = write_phantom_cohort(tmp_path / "c", 40, seed=4)
    manifest = read_manifest(manifest_path)
    run = tmp_path / "run"
    first = load_or_assign(manifest, run, folds=3, test_fraction=0.2, seed=0)
    again = load_or_assign(manifest, run, folds=3, test_fraction=0.2, seed=99)  # another seed: still reused
    pd.testing.assert_frame_equal(first, again, check_dtype=False)
    frame = pd.read_csv(manifest_path)
    frame.loc[0, "label"] = "malignant" if frame.loc[0, "label"] == "benign" else "benign"
    frame.to_csv(manifest_path, index=False)
    with pytest.raises(DataError, match="another manifest"):
        load_or_assign(read_manifest(manifest_path), run, folds=3, test_fraction=0.2, seed=0)


def test_manifest_split_column_is_respected(tmp_path):
    manifest_path = write_phantom_cohort(tmp_path / "c", 30, seed=5)
    frame = pd.read_csv(manifest_path)
    frame["split"] = ["test" if i < 6 else "train" for i in range(len(frame))]
    # keep patients whole: give every row its own group
    frame["split_group"] = frame["ln_id"]
    frame.to_csv(manifest_path, index=False)
    table = assign_splits(read_manifest(manifest_path), folds=3)
    assert list(table.loc[table["split"] == "test", "id"]) == list(frame["ln_id"][:6])


