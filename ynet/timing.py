"""Speed that repeats: every model timed in interleaved rounds in one process.

Timing one model once, in its own process, measured the machine as much as the model (the
same network timed 62 and 34 images/s in two runs). Here every model is built once, warmed
up, and then timed round after round, the models' order rotating each round, so that a slow
spell of the machine falls on every model alike; each measurement runs for at least
``min_seconds``. The thread count is fixed and recorded. Reported: every round's images/s;
tables show the median with min–max.

Inference (:func:`time_inference`) runs the model as it is used (:func:`ynet.infer.infer`);
training (:func:`time_training`) runs the trainer's own optimiser step
(:func:`ynet.train.train_step`) on one fixed batch: the network's cost without data loading
and augmentation, which a fit's own images/s include (and which a machine shared with other
work slows down).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

import torch

from .infer import infer
from .loss import JointLoss
from .train import train_step


def _images_per_s(run: Callable[[], object], batch: int, min_seconds: float, sync: Callable[[], None]) -> float:
    calls, started = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        sync()
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds and calls >= 2:
            return calls * batch / elapsed


def _rotating(names: list[str], rounds: int):
    """The names in interleaved rounds, the order rotating by one each round."""
    for r in range(rounds):
        yield from names[r % len(names):] + names[:r % len(names)]


def _check_rounds(rounds: int) -> None:
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")


def _sync_for(device: torch.device) -> Callable[[], None]:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return sync


def time_inference(models: Mapping[str, tuple[torch.nn.Module, bool]], image_size: int, *, rounds: int = 5,
                   batches: tuple[int, ...] = (1, 8), min_seconds: float = 1.0, warmup: int = 2,
                   threads: int | None = None, device: torch.device | None = None, seed: int = 0) -> dict:
    """``{name: {"infer_runs_b1": [images/s per round], …}}`` plus ``"threads"``.

    ``models`` maps a name to (model, tta): with ``tta`` the mirrored pass is included, as the
    model is used (:func:`ynet.infer.infer`)."""
    _check_rounds(rounds)
    device = device or torch.device("cpu")
    if threads is not None:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(max(batches), 1, image_size, image_size, generator=generator).to(device)
    sync = _sync_for(device)
    prepared = {name: model.to(device).eval() for name, (model, _) in models.items()}
    tta = {name: flag for name, (_, flag) in models.items()}
    for name, model in prepared.items():  # warm-up: allocator, kernels, caches; never timed
        for batch in batches:
            for _ in range(warmup):
                infer(model, x[:batch], tta=tta[name])
    sync()
    runs = {name: {f"infer_runs_b{b}": [] for b in batches} for name in prepared}
    for name in _rotating(list(prepared), rounds):
        for batch in batches:
            speed = _images_per_s(lambda name=name, batch=batch: infer(prepared[name], x[:batch], tta=tta[name]),
                                  batch, min_seconds, sync)
            runs[name][f"infer_runs_b{batch}"].append(speed)
    return {"threads": torch.get_num_threads(), "rounds": rounds, "min_seconds": min_seconds, "models": runs}


def time_training(models: Mapping[str, tuple[torch.nn.Module, JointLoss]], image_size: int, *, rounds: int = 5,
                  batch: int = 8, lr: float = 1e-3, weight_decay: float = 0.0, amp: bool = False,
                  min_seconds: float = 1.0, warmup: int = 2, threads: int | None = None,
                  device: torch.device | None = None, seed: int = 0) -> dict:
    """``{name: {"train_runs": [training images/s per round]}}`` plus ``"threads"`` and ``"batch"``.

    ``models`` maps a name to (model, its training loss); each is trained in place with Adam
    on one fixed batch of standardised noise, masks and labels (half of each class), as the
    trainer steps (``amp``: bf16 autocast, which the trainer uses on CUDA)."""
    _check_rounds(rounds)
    device = device or torch.device("cpu")
    if threads is not None:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 1, image_size, image_size, generator=generator).to(device)
    mask = (torch.randn(batch, image_size, image_size, generator=generator) > 0.5).long().to(device)
    label = (torch.arange(batch) % 2).to(device)
    sync = _sync_for(device)
    prepared = {name: (model.to(device).train(), loss.to(device),
                       torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay))
                for name, (model, loss) in models.items()}

    def step(name: str) -> None:
        model, loss, optimizer = prepared[name]
        train_step(model, loss, optimizer, image, mask, label, amp=amp)

    for name in prepared:  # warm-up, never timed
        for _ in range(warmup):
            step(name)
    sync()
    runs = {name: {"train_runs": []} for name in prepared}
    for name in _rotating(list(prepared), rounds):
        runs[name]["train_runs"].append(_images_per_s(lambda name=name: step(name), batch, min_seconds, sync))
    return {"threads": torch.get_num_threads(), "rounds": rounds, "batch": batch, "min_seconds": min_seconds,
            "models": runs}


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``: user,
    nice, system, irq, softirq, steal); None where that is not available."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


__all__ = ["machine_busy_seconds", "time_inference", "time_training"]
