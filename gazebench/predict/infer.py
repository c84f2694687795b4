"""Batched prediction over sequences of frames: the training path's input, the evaluation's forward.

For every frame the locator gives a head box; the box is cut and resized to the model's input
size (:func:`~gazebench.predict.crops.crop_resized`).  On the normalising path
(:class:`~gazebench.predict.normalise.NormalisedFaces`) the model gets the normalised face patch
instead, and its gaze is turned back into the camera frame after the forward pass (the normalised
one is kept as ``Predictions.normalised``).  A sequence model gets the frame window of its
:class:`~gazebench.datasets.views.ViewSpec` over the sequence (:mod:`~gazebench.predict.windows`).
Batches of ``uint8 [B, T, C, S, S]`` frames then go through :func:`gazebench.train.engine.predict_batches`, the
function that evaluates every run: :meth:`~gazebench.train.engine.StepContext.views` makes the zoom
crops and the ImageNet normalisation on the device (:func:`~gazebench.datasets.views.make_views`),
under ``torch.inference_mode``.  Batches span sequences; frames are decoded once, streamed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from gazebench.core.errors import UserValueError
from gazebench.core.options import ConfigError
from gazebench.predict.crops import Box, Locator, crop_resized
from gazebench.predict.inputs import Sequence
from gazebench.predict.normalise import Normalisation, NormalisedFaces
from gazebench.predict.predictors import Predictor
from gazebench.predict.windows import windows


@dataclass(frozen=True)
class Located:
    """A frame that reaches the model: where it comes from, its head box and, on the normalising
    path, how its face was normalised."""

    input: str
    frame: int
    time: float | None
    box: Box
    normalisation: Normalisation | None = None


@dataclass
class Predictions:
    """Per predicted frame, in input order: ``located``, ``vector`` ``[N, 3]`` (canonical),
    ``sigma`` ``[N]`` (radians, NaN when the model has none), ``complete`` ``[N]`` (the frame
    window had every neighbour); ``skipped``: ``(input, frame)`` of frames without a head box;
    ``normalised`` ``[N, 3]``: on the normalising path the model's own gaze, in the normalised
    camera (``vector`` is then that gaze turned back into the camera frame), else None."""

    located: list[Located]
    vector: np.ndarray
    sigma: np.ndarray
    complete: np.ndarray
    skipped: list[tuple[str, int]] = field(default_factory=list)
    normalised: np.ndarray | None = None


def located_crops(
    sequence: Sequence,
    locator: Locator | NormalisedFaces,
    size: int,
    update: Callable[[int], None],
    skipped: list[tuple[str, int]],
) -> Iterator[tuple[Located, np.ndarray]]:
    """Each frame of ``sequence`` with a head box, and its crop ``uint8 [size, size, 3]`` (the
    normalised face patch when ``locator`` normalises)."""
    for frame in sequence.frames():
        update(1)
        if isinstance(locator, NormalisedFaces):
            found = locator.normalise(frame)
            if found is None:
                skipped.append((frame.input, frame.index))
                continue
            box, patch, normalisation = found
            yield Located(frame.input, frame.index, frame.time, box, normalisation), patch
            continue
        box = locator.locate(frame)
        if box is None:
            skipped.append((frame.input, frame.index))
            continue
        yield Located(frame.input, frame.index, frame.time, box), crop_resized(frame.image, box, size)


def _batch(frames: list[np.ndarray], start: int) -> dict:
    import torch

    stacked = torch.from_numpy(np.stack(frames)).permute(0, 1, 4, 2, 3).contiguous()  # [B, T, C, S, S]
    n = stacked.shape[0]
    return {"frames": stacked, "gaze": torch.zeros(n, 3), "index": torch.arange(start, start + n)}


def batches(
    sequences: Iterable[Sequence],
    locator: Locator | NormalisedFaces,
    predictor: Predictor,
    batch_size: int,
    update: Callable[[int], None],
    out: Predictions,
    complete: list[bool],
) -> Iterator[dict]:
    """Batches of frame windows for :func:`gazebench.train.engine.predict_batches`; fills ``out.located``,
    ``out.skipped`` and ``complete`` as it goes."""
    offsets = predictor.model.view.offsets
    pending: list[np.ndarray] = []
    for sequence in sequences:
        crops = located_crops(sequence, locator, predictor.image_size, update, out.skipped)
        for (located, _), window, whole in windows(crops, offsets):
            pending.append(np.stack([crop for _, crop in window]))  # [T, S, S, C]
            out.located.append(located)
            complete.append(whole)
            if len(pending) == batch_size:
                yield _batch(pending, len(out.located) - len(pending))
                pending = []
    if pending:
        yield _batch(pending, len(out.located) - len(pending))


def warn_single_frames(sequences: list[Sequence], predictor: Predictor) -> None:
    view = predictor.model.view
    singles = [s for s in sequences if s.kind != "video" and len(s.files) == 1]
    if view.needs_sequences and singles:
        print(
            f"warning: the model reads {view.describe()}; {len(singles)} input(s) are single images, whose window "
            "repeats the one frame (give a folder of consecutive frames or a video)",
            file=sys.stderr,
        )


def total_frames(sequences: list[Sequence]) -> int | None:
    counts = [s.count() for s in sequences]
    return None if any(c is None for c in counts) else int(sum(counts))


def predict(
    predictor: Predictor,
    sequences: list[Sequence],
    locator: Locator | NormalisedFaces,
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
) -> Predictions:
    """The gaze of every frame of ``sequences`` that has a head box (or, normalising, a face);
    normalised gaze is turned back into the camera frame (:meth:`Normalisation.to_camera`)."""
    import torch

    from gazebench.core.progress import progress_bar
    from gazebench.train.engine import StepContext, predict_batches, resolve_device

    if batch_size < 1:
        raise UserValueError(f"--batch-size must be >= 1; got {batch_size}")
    warn_single_frames(sequences, predictor)
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {device}: no CUDA device here (torch.cuda.is_available() is false); use --device cpu"
        )
    model = predictor.model.to(dev).eval()
    ctx = StepContext(model.view, predictor.image_size, dev, "fp32", "auto")
    if ctx.channels_last:
        model.to(memory_format=torch.channels_last)
    out = Predictions([], np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=bool))
    complete: list[bool] = []
    with progress_bar(total_frames(sequences), "predict", progress, unit="frame") as update:
        result = predict_batches(model, batches(sequences, locator, predictor, batch_size, update, out, complete), ctx)
    order = np.argsort(result["index"], kind="stable")
    out.vector, out.sigma = result["vector"][order], result["sigma"][order]
    out.complete = np.asarray(complete, dtype=bool)
    if isinstance(locator, NormalisedFaces):
        out.normalised = out.vector
        out.vector = np.array([p.normalisation.to_camera(v) for p, v in zip(out.located, out.normalised)])
        out.vector = out.vector.reshape(-1, 3)
    return out
