"""Which model ``gazebench predict`` runs, and at which input size: a :class:`Predictor`.

* :func:`from_run`: a finished gazebench run (its result JSON, or its run folder under ``runs/``):
  the registered model rebuilt from the record's model name and resolved options (backbone
  weights not fetched: ``pretrained=false``), ``best.pt`` loaded, the record's recipe
  ``image_size`` as input size;
* :func:`from_model`: a registered model with ``--set`` options, from a gazebench weights file
  (``best.pt``, or a ``last.pt`` checkpoint) or, without one, with random weights (smoke tests);
* :func:`from_published`: a published checkpoint through :func:`gazebench.published.load_published`,
  at the input size its card states, with the card's input convention (``input.image``: a face box
  fed as is, or a normalised face and the virtual camera of ``input.normalisation``).

Every weights file is read with ``torch.load(weights_only=True)``: no pickled code runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazebench.core.options import ConfigError

#: image_size is the one training recipe key that changes what a model sees
PREDICT_RECIPE_KEYS = ("image_size",)


@dataclass
class Predictor:
    """A model ready to predict (eval mode, on the CPU until moved), its input size, and what
    gaze.json records about where it came from."""

    model: Any  # gazebench.models.GazeModel
    image_size: int
    about: dict[str, Any] = field(default_factory=dict)
    #: what the model was trained on: ``face-box`` (a box cut from the frame) or ``normalised-face``
    image: str = "face-box"
    #: the normalised camera of a ``normalised-face`` model (gazebench.predict.normalise.VirtualCamera)
    camera: Any = None


def _describe(model: Any, image_size: int, **about: Any) -> dict[str, Any]:
    return {
        **about,
        "model": getattr(model, "name", type(model).__name__),
        "options": dict(getattr(model, "options", {})),
        "view": model.view.describe(),
        "image_size": image_size,
    }


def read_state_dict(path: Path) -> dict[str, Any]:
    """The model weights of ``best.pt`` (a state dict) or ``last.pt`` (a gazebench checkpoint),
    read by the published loader's ``torch.load(weights_only=True)`` (one line for a bad file)."""
    from gazebench.published.loading import read_checkpoint

    obj = read_checkpoint(path)
    if isinstance(obj, dict) and obj.get("format") == "gazebench-checkpoint-1":
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    return obj


def load_into(model: Any, path: Path) -> None:
    """Load a weights file into ``model`` (strict); a mismatch is one line naming the file and the
    first missing and unexpected key."""
    state = read_state_dict(path)
    name = getattr(model, "name", type(model).__name__)
    own = model.state_dict()
    missing, unexpected = [k for k in own if k not in state], [k for k in state if k not in own]
    if missing or unexpected:
        pairs = (("missing", missing), ("unexpected", unexpected))
        first = ", ".join(f"first {what} {keys[0]!r}" for what, keys in pairs if keys)
        raise ConfigError(
            f"{path}: its weights do not fit model {name} with these options: {len(missing)} missing "
            f"and {len(unexpected)} unexpected keys ({first})"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # shapes: "Error(s) in loading ...:\n\tsize mismatch for KEY: ..."
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        raise ConfigError(
            f"{path}: its weights do not fit model {name} with these options: "
            f"{lines[1] if len(lines) > 1 else lines[0] if lines else exc}"
        ) from exc


# --- a run ----------------------------------------------------------------------------------------


def find_record(run_dir: Path, results_dir: Path) -> Path:
    """The result record whose checkpoint is ``run_dir/best.pt`` (the record is named after the
    run folder: ``results/.../<folder name>.json``)."""
    from gazebench.results.store import read_record

    best = (run_dir / "best.pt").resolve()
    for path in sorted(Path(results_dir).rglob(f"{run_dir.name}.json")):
        try:
            record = read_record(path)
        except (OSError, ValueError):
            continue
        checkpoint = (record.get("artifacts") or {}).get("checkpoint")
        if checkpoint and Path(checkpoint).resolve() == best:
            return path
    raise ConfigError(
        f"no result record under {results_dir} names {run_dir / 'best.pt'} as its checkpoint; "
        "give the run's result JSON (--run results/.../NAME.json) or its results folder (--results DIR)"
    )


def run_checkpoint(record: dict[str, Any], record_path: Path) -> Path:
    checkpoint = (record.get("artifacts") or {}).get("checkpoint")
    name = record.get("model", {}).get("name")
    if not checkpoint:
        raise ConfigError(
            f"{record_path}: model {name!r} keeps no checkpoint (a fitted baseline); "
            "gazebench predict needs a trained model"
        )
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f"{record_path}: its checkpoint {path} does not exist (run from the folder the run "
            "was started in, or pass the run folder with --run)"
        )
    return path


def rebuild_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """A record's resolved model options for rebuilding the architecture: no backbone weights are
    fetched or read (best.pt has every weight)."""
    from gazebench.declared import model_option_keys

    keys = model_option_keys(name)
    out = {k: v for k, v in options.items() if k in keys}
    for key, value in (("pretrained", False), ("weights_file", None)):
        if key in keys:
            out[key] = value
    return out


def from_run(path: Path, results_dir: Path = Path("results")) -> Predictor:
    """The model of a finished run: ``path`` is its result JSON or its run folder."""
    from gazebench.models import build_model
    from gazebench.results.store import read_record

    path = Path(path)
    if path.is_dir():
        record_path = find_record(path, results_dir)
        checkpoint = path / "best.pt"
    elif path.is_file():
        record_path, checkpoint = path, None
    else:
        raise FileNotFoundError(f"--run {path} does not exist (a result JSON or a run folder)")
    try:
        record = read_record(record_path)
    except ValueError as exc:
        raise ConfigError(f"--run {record_path}: {exc}") from exc
    checkpoint = checkpoint or run_checkpoint(record, record_path)
    name = record["model"]["name"]
    model = build_model(name, **rebuild_options(name, record["model"].get("options") or record["model"]["kwargs"]))
    load_into(model, checkpoint)
    size = int(record["recipe"]["image_size"])
    dataset = record.get("dataset", {}).get("name")
    return Predictor(
        model,
        size,
        _describe(
            model,
            size,
            source="run",
            record=str(record_path),
            weights=str(checkpoint),
            trained_on=dataset,
            fold=record.get("fold"),
            seed=record.get("seed"),
        ),
    )


# --- a registered model -----------------------------------------------------------------------------


def split_sets(name: str, settings: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``--set`` values of ``--model NAME`` -> (model options, image_size)."""
    from gazebench.core.config import Recipe, route_settings
    from gazebench.declared import model_option_keys

    routed = route_settings(settings, model_option_keys(name), ())
    other = [k for k in routed.recipe if k not in PREDICT_RECIPE_KEYS]
    if other:
        raise ConfigError(
            f"gazebench predict takes model options and {', '.join(PREDICT_RECIPE_KEYS)}; "
            f"{', '.join(other)} is a training recipe key"
        )
    return routed.model, Recipe.resolve(routed.recipe).image_size


def from_model(name: str, settings: dict[str, Any], weights: Path | None = None) -> Predictor:
    """Registered model ``name`` with ``--set`` options; ``weights``: a gazebench weights file."""
    from gazebench.models import build_model

    options, size = split_sets(name, settings)
    model = build_model(name, **options)
    if weights is not None:
        load_into(model, Path(weights))
    elif model.trainable:
        print(
            f"warning: model {name} has untrained weights (no --weights FILE): its gaze means nothing; "
            "use it to try the pipeline, or --run / --published for a trained model",
            file=sys.stderr,
        )
    return Predictor(
        model, size, _describe(model, size, source="model", weights=str(weights) if weights else "untrained")
    )


# --- a published checkpoint -----------------------------------------------------------------------


def card_input_size(card: Any) -> int:
    """The square input size a published card states (``input.size``); a card whose input is not
    what predict feeds (RGB, ImageNet mean and std, as every gazebench model) is refused."""
    from gazebench.datasets.views import IMAGENET_MEAN, IMAGENET_STD

    spec = card.input or {}
    size = spec.get("size")
    if isinstance(size, (list, tuple)) and len(set(size)) == 1:
        size = size[0]
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"published card {card.name}: input.size must be one square size in pixels; got {size!r}")
    norm = spec.get("normalise") or {}
    same = [
        len(norm.get(k) or ()) == 3 and all(abs(float(a) - b) < 1e-6 for a, b in zip(norm[k], v))
        for k, v in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD))
    ]
    if str(spec.get("channels", "RGB")).upper() != "RGB" or not all(same):
        raise ConfigError(
            f"published card {card.name}: its input ({spec.get('channels')}, normalise {norm}) is not "
            "the RGB ImageNet-normalised input gazebench predict feeds"
        )
    return size


def from_published(name: str, weights: Path) -> Predictor:
    """A published checkpoint (``gazebench ls published``) read from the authors' file ``weights``."""
    from gazebench.predict.normalise import NORMALISED_FACE, card_image_kind, card_virtual_camera
    from gazebench.published import load_published, published_card

    card = published_card(name)
    size = card_input_size(card)
    image = card_image_kind(card)
    camera = card_virtual_camera(card) if image == NORMALISED_FACE else None
    model = load_published(name, str(weights))
    return Predictor(
        model,
        size,
        _describe(
            model, size, source="published", published=name, weights=getattr(model, "weights", None) or str(weights)
        ),
        image=image,
        camera=camera,
    )
