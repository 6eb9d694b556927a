"""The benchmark's peer networks, built the way their packages document them.

Both forward to ``(mask logits N×2×H×W or None, class logits N×2 or None)``, as Y-Net does,
so that the one trainer fits them. Their packages are not dependencies of reportmine (they
pull in torchvision) and are imported only when a peer is built.
"""

from __future__ import annotations

import torch


class SmpUnetResnet34(torch.nn.Module):
    """segmentation_models_pytorch ``Unet("resnet34")`` with its auxiliary classification
    head; no pretrained weights (the same start as Y-Net)."""

    def __init__(self) -> None:
        super().__init__()
        # optional: only the benchmark's own environment has it
        import segmentation_models_pytorch as smp

        self.net = smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=2,
                            aux_params={"classes": 2, "dropout": 0.2})

    def forward(self, x):
        mask, label = self.net(x)
        return mask, label


class MonaiUNet(torch.nn.Module):
    """MONAI's residual ``UNet`` (segmentation only: no class output)."""

    def __init__(self) -> None:
        super().__init__()
        # optional: only the benchmark's own environment has it
        from monai.networks.nets import UNet

        self.net = UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(16, 32, 64, 128, 256),
                        strides=(2, 2, 2, 2), num_res_units=2)

    def forward(self, x):
        return self.net(x), None


PEERS = {"smp_unet_r34": SmpUnetResnet34, "monai_unet": MonaiUNet}
YNET_MODELS = ("ynet", "ynet_cls_only")
MODELS = (*YNET_MODELS, *PEERS)  # every model the benchmark knows, Y-Net first
NAMES = {"ynet": "Y-Net (segmentation + classification)", "ynet_cls_only": "Y-Net (classification only)",
         "smp_unet_r34": "smp Unet-resnet34 + aux head", "monai_unet": "MONAI UNet (segmentation only)"}

__all__ = ["MODELS", "NAMES", "PEERS", "YNET_MODELS", "MonaiUNet", "SmpUnetResnet34"]
