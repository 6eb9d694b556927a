"""Checkpoints: state dict plus everything needed to reproduce and to refuse a wrong file.

A checkpoint holds only tensors and plain values (dicts, lists, strings, numbers), so it is
always loaded with ``torch.load(weights_only=True)``: a checkpoint file is untrusted input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reportmine.core.errors import InputError
from reportmine.core.inputs import check_input_file
from reportmine.core.labels import CLASS_NAMES
from reportmine.core.outputs import atomic_path, write_failed
from reportmine.core.provenance import versions

from .model import YNet, YNetConfig

FORMAT = "ynet-checkpoint/1"
# the widest model (width 4) with its optimizer state is under 200 MB; a larger file is not one
# of ours and is refused before torch reads it into memory
MAX_CHECKPOINT_BYTES = 2 << 30
LABEL_MAP = {name: index for index, name in enumerate(CLASS_NAMES)}


class CheckpointError(ValueError):
    """The file is not a usable Y-Net checkpoint; the message names it."""


def plain(value):
    """Numpy scalars and tuples made plain Python, so the file loads with weights_only=True."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_checkpoint(path: str | Path, model: YNet, meta: dict) -> None:
    tensors = {k: meta[k] for k in ("optimizer", "scheduler", "rng") if k in meta}
    rest = plain({k: v for k, v in meta.items() if k not in tensors})
    payload = {"format": FORMAT, "state_dict": model.state_dict(), "label_map": LABEL_MAP,
               "versions": versions(), **rest, **tensors}
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:  # torch's writer reports a full disk as a RuntimeError
            raise write_failed(Path(path), OSError(f"write failed: {str(exc).splitlines()[0][:160]}")) from exc


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    try:
        check_input_file(path, what="checkpoint", max_bytes=MAX_CHECKPOINT_BYTES)
    except InputError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or corrupt files
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Y-Net checkpoint (format {state.get('format') if isinstance(state, dict) else type(state).__name__!r})")
    return state


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[YNet, dict]:
    """The model of a checkpoint (eval mode) and the checkpoint's metadata."""
    from .preprocess import Preprocessing

    state = load_checkpoint(path, map_location=device)
    try:
        Preprocessing.from_dict(state.get("preprocessing", {}))
    except ValueError as exc:  # crafted or corrupt: refused before it sizes anything
        raise CheckpointError(f"{path}: unusable preprocessing entry ({exc})") from exc
    try:
        if not isinstance(state.get("config"), dict):
            raise ValueError("no model configuration")
        model = YNet(YNetConfig.from_dict(state["config"]))
        model.load_state_dict(state["state_dict"], strict=True)
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: checkpoint of another architecture ({str(exc).splitlines()[0][:120]})") from exc
    model.to(device).eval()
    return model, {k: v for k, v in state.items() if k not in ("state_dict", "optimizer", "scheduler", "rng")}
