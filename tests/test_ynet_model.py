"""Y-Net blocks and model: shapes, sizes, parameter budget, learning on phantoms."""

import numpy as np
import pytest
import torch

from reportmine.stats import dice
from ynet.blocks import ESPBlock, PyramidPooling
from ynet.data import Preprocessing, standardise
from ynet.loss import JointLoss
from ynet.model import YNet, YNetConfig, count_parameters


@pytest.mark.parametrize("size", [(256, 256), (192, 320)])
def test_shapes_both_variants(size):
    x = torch.randn(2, 1, *size)
    seg, cls = YNet(YNetConfig(width=0.5)).eval()(x)
    assert seg.shape == (2, 2, *size) and cls.shape == (2, 2)
    seg, cls = YNet(YNetConfig(variant="cls-only", width=0.5)).eval()(x)
    assert seg is None and cls.shape == (2, 2)


def test_default_parameter_budget_and_variants():
    full = count_parameters(YNet())
    cls_only = count_parameters(YNet(YNetConfig(variant="cls-only")))
    assert full <= 2_000_000
    assert cls_only < full  # the decoder is really gone
    assert not hasattr(YNet(YNetConfig(variant="cls-only")), "pyramid")
    assert count_parameters(YNet(YNetConfig(width=0.25))) < full / 8


def test_stride_is_enforced_and_batchnorm_is_pytorch_default():
    with pytest.raises(ValueError, match="divisible"):
        YNet(YNetConfig(width=0.5))(torch.randn(1, 1, 100, 100))
    for module in YNet().modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.momentum == 0.1


def test_esp_block_fuses_hierarchically():
    block = ESPBlock(16, 16, dilations=(1, 2, 4, 8)).eval()
    assert [b.dilation[0] for b in block.branches] == [1, 2, 4, 8]
    x = torch.randn(1, 16, 24, 24)
    assert block(x).shape == x.shape
    # channels 4..7 (second group) hold d2, 8..11 hold d2+d4: zeroing the d4 branch changes
    # only the groups from the third on
    with torch.no_grad():
        reduced = block.reduce(x)
        d = [b(reduced) for b in block.branches]
    assert torch.allclose(d[1] + d[2], d[1] + d[2])  # sanity of the recomputation
    with torch.no_grad():
        block.branches[2].weight.zero_()
        out_without = torch.cat([d[0], d[1], d[1], d[1] + d[3]], 1)
        block.norm.eval()
        expected = block.act(block.norm(out_without + x))
        assert torch.allclose(block(x), expected, atol=1e-5)


@pytest.mark.parametrize("bins", [(3, 5, 7, 9), (2, 4)])
def test_pyramid_pooling_any_size(bins):
    pp = PyramidPooling(32, bins).eval()
    for size in ((16, 16), (12, 20), (9, 9)):
        x = torch.randn(1, 32, *size)
        assert pp(x).shape == x.shape
    assert pp.bins == bins


def test_tiny_model_overfits_phantoms(tmp_path):
    """The one trainer (ynet.train.fit_fold) drives a small Y-Net to fit 8 phantoms."""
    from ynet.dataset import PreparedCohort
    from ynet.manifest import read_manifest
    from ynet.phantom import write_phantom_cohort
    from ynet.train import TrainConfig, fit_fold, ynet_builder

    manifest = read_manifest(write_phantom_cohort(tmp_path, 8, seed=0, malignant_fraction=0.5))
    cohort = PreparedCohort(manifest.nodes, Preprocessing(size=128), need_masks=True)
    cfg = TrainConfig(width=0.5, epochs=60, patience=60, batch_size=8, lr=3e-3, dice_weight=1.0, augment=False,
                      seed=0, device="cpu")
    everything = list(range(len(cohort)))
    fit = fit_fold(ynet_builder(cfg), cohort, everything, everything, cfg)
    first, last = fit.history[0]["train_loss"], fit.history[-1]["train_loss"]
    assert fit.epochs_run == 60 and last < 0.5 * first
    x = torch.from_numpy(np.stack([standardise(item.image) for item in cohort.items]))[:, None]
    masks = np.stack([item.mask for item in cohort.items])
    labels = torch.tensor([n.label for n in cohort.nodes])
    with torch.no_grad():
        seg, cls = fit.model(x)
    assert np.median([dice(a, b) for a, b in zip(seg.argmax(1).numpy(), masks)]) > 0.8
    assert (cls.argmax(1) == labels).float().mean() == 1.0


def test_loss_ignores_missing_masks_and_labels():
    seg = torch.randn(2, 2, 8, 8, requires_grad=True)
    cls = torch.randn(2, 2, requires_grad=True)
    masks = torch.full((2, 8, 8), -1, dtype=torch.long)
    labels = torch.tensor([1, -1])
    parts = JointLoss()(seg, cls, masks, labels)
    assert parts.segmentation.item() == 0
    expected = torch.nn.functional.cross_entropy(cls[:1], labels[:1])
    assert torch.isclose(parts.classification, expected)
    parts.total.backward()
    assert seg.grad is not None


def _ellipse(a: float, b: float, angle: float = 0.0, size: int = 256) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size / 2
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    return ((u / a) ** 2 + (v / b) ** 2 <= 1).astype(np.float32)


def test_mask_morphology_matches_geometry():
    from ynet.model import mask_morphology

    shapes = [_ellipse(50, 50), _ellipse(60, 30), _ellipse(60, 20, np.pi / 4), np.zeros((256, 256), np.float32)]
    area, log_ratio, circularity = mask_morphology(torch.from_numpy(np.stack(shapes))).T.numpy()
    assert area[0] == pytest.approx(np.pi * 50 ** 2 / 256 ** 2, rel=0.01)
    assert log_ratio[0] == pytest.approx(0.0, abs=0.01)
    assert log_ratio[1] == pytest.approx(np.log(2), rel=0.02) and log_ratio[2] == pytest.approx(np.log(3), rel=0.02)
    assert circularity[0] == pytest.approx(1.0, abs=0.05)
    # Ramanujan's perimeter of a 60 × 30 ellipse gives 4πA/P² = 0.841
    perimeter = np.pi * (3 * 90 - np.sqrt((3 * 60 + 30) * (60 + 3 * 30)))
    assert circularity[1] == pytest.approx(4 * np.pi * np.pi * 60 * 30 / perimeter ** 2, rel=0.05)
    assert circularity[1] < circularity[0]
    assert (mask_morphology(torch.zeros(1, 32, 32)) == 0).all()


def test_masked_pooling_averages_inside_and_around_the_node():
    from ynet.model import masked_pooling

    features = torch.zeros(1, 1, 8, 8)
    features[..., 2:4, 2:4] = 5.0  # the node
    features[..., 1, 1:5] = 2.0  # the row just above it
    node = torch.zeros(1, 1, 32, 32)
    node[..., 8:16, 8:16] = 1.0  # the same square at 4× the resolution
    whole, inside, around = masked_pooling(features, node)[0]
    assert whole == pytest.approx(features.mean().item())
    assert inside == pytest.approx(5.0)
    ring = torch.zeros(8, 8, dtype=torch.bool)
    ring[1:5, 1:5] = True
    ring[2:4, 2:4] = False
    assert around == pytest.approx(features[0, 0][ring].mean().item())
    empty = masked_pooling(features, torch.zeros(1, 1, 32, 32))[0]
    assert torch.allclose(empty, torch.full((3,), features.mean().item()))


@pytest.mark.parametrize(("head", "morphology"), [("mask", False), ("global", True), ("mask", True)])
def test_head_options_train_and_reload(tmp_path, head, morphology):
    from ynet.checkpoint import load_model, save_checkpoint

    cfg = YNetConfig(width=0.25, head=head, morphology=morphology)
    model = YNet(cfg)
    seg, cls = model(torch.randn(2, 1, 64, 64))
    assert seg.shape == (2, 2, 64, 64) and cls.shape == (2, 2)
    parts = JointLoss()(seg, cls, torch.zeros(2, 64, 64, dtype=torch.long), torch.tensor([0, 1]))
    parts.total.backward()
    head_grads = [p.grad for p in model.classifier.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
    save_checkpoint(tmp_path / "m.pt", model, {"config": cfg.to_dict()})
    again, meta = load_model(tmp_path / "m.pt")
    assert meta["config"]["head"] == head and meta["config"]["morphology"] == morphology
    model.eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)[1], again(x)[1])
    with pytest.raises(ValueError, match="seg\\+cls"):
        YNetConfig(variant="cls-only", head=head, morphology=morphology)
