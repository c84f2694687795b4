"""Load an authors' released checkpoint into the registered gazebench model its card names.

:func:`load_published` reads the file with ``torch.load(weights_only=True, map_location=device)``
(the legacy non-zip stream of PyTorch 1.x included; storages tagged ``cuda:0`` land on ``device``),
or with safetensors when the card says the file is one (UniGaze's Hugging Face releases),
takes the state dict from the entry the card declares, strips the declared prefix (``module.``),
renames every key through the card's ordered prefix table (first match wins; no fuzzy matching),
drops the card's ``ignore`` entries (each with its reason), builds the model from the card and
loads it with ``load_state_dict(strict=True)``.  Every way a file can fail to fit is one
:class:`~gazebench.core.options.ConfigError` line naming the file: not a checkpoint, pickled code,
a missing container entry, a SHA-256 other than the card's, or keys that do not match (the first
missing and the first unexpected key, and shape mismatches).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gazebench.core.options import ConfigError
from gazebench.models.base import GazeModel, build_model
from gazebench.models.weights import Weights, sha256_file
from gazebench.published.cards import TRAINING_ONLY_OPTIONS, PublishedCard, published_card
from gazebench.results.checkpoint import read_checkpoint, read_safetensors


def _some(names: list[Any], most: int = 4) -> str:
    shown = ", ".join(map(str, names[:most]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _state_dict(obj: Any, card: PublishedCard, path: Path) -> Mapping[str, Any]:
    """The card's container entry of the loaded object (the object itself for a bare state dict)."""
    entry = card.container.state_dict
    if entry is not None:
        if not isinstance(obj, Mapping) or entry not in obj:
            has = f"its entries: {_some(list(obj))}" if isinstance(obj, Mapping) else type(obj).__name__
            raise ConfigError(
                f"{path}: has no {entry!r} entry ({has}); {card.file} holds its weights there ({card.tag})"
            )
        obj = obj[entry]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(
            f"{path}: {'entry ' + repr(entry) if entry else 'the file'} is not a state dict of "
            f"tensors ({card.tag} expects {card.file})"
        )
    return obj


def map_keys(state: Mapping[str, torch.Tensor], card: PublishedCard) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The released keys renamed by the card: (gazebench key -> tensor, gazebench key -> released
    key).  A key the table does not match, or one without the container's prefix, keeps its
    released name (and is reported as unexpected by :func:`check_fit`)."""
    prefix, mapped, origin = card.container.prefix, {}, {}
    for key, value in state.items():
        bare = key[len(prefix) :] if key.startswith(prefix) else None
        if bare is not None and card.keys.ignored(bare):
            continue
        target = card.keys.target(bare) if bare is not None else None
        name = target if target is not None else key
        if name in mapped:
            raise ConfigError(
                f"{card.tag}: released keys {origin[name]!r} and {key!r} both map to {name!r} "
                f"(the keys table of {card.path.name})"
            )
        mapped[name], origin[name] = value, key
    return mapped, origin


def check_fit(
    model: torch.nn.Module,
    mapped: Mapping[str, torch.Tensor],
    origin: Mapping[str, str],
    card: PublishedCard,
    path: Path,
) -> None:
    """One ConfigError naming the first missing and the first unexpected key (and the first shape
    mismatch) when ``mapped`` does not fit ``model`` exactly."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in mapped]
    unexpected = [k for k in mapped if k not in ours]
    shapes = [k for k in mapped if k in ours and tuple(mapped[k].shape) != tuple(ours[k].shape)]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first: {missing[0]!r})")
    if unexpected:
        first = unexpected[0]
        renamed = f" -> {first!r}" if origin[first] != first else ""
        parts.append(f"{len(unexpected)} unexpected (first: {origin[first]!r}{renamed})")
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} of another shape (first: {origin[k]!r} {tuple(mapped[k].shape)}, "
            f"model {k!r} {tuple(ours[k].shape)})"
        )
    raise ConfigError(
        f"{path}: does not fit {card.tag} (model {card.model!r}): {'; '.join(parts)}; "
        f"see the card's keys table ({card.path.name})"
    )


def check_hash(path: Path, card: PublishedCard) -> str:
    """The file's SHA-256; a card that knows the released file's hash refuses any other file."""
    digest = sha256_file(path)
    if card.sha256 and digest != card.sha256.lower():
        raise ConfigError(
            f"{path}: SHA-256 {digest} is not the released {card.file}'s {card.sha256} ({card.tag}): a different file"
        )
    return digest


def published_state_dict(
    name: str, weights_file: str | Path, model: torch.nn.Module, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], str]:
    """The released file's tensors under ``model``'s key names, checked to fit it exactly, and the
    file's SHA-256 (for initialising or fine-tuning a model built from the card)."""
    card, path = published_card(name), Path(weights_file).expanduser()
    read = read_safetensors if card.container.format == "safetensors" else read_checkpoint
    state = _state_dict(read(path, device), card, path)
    digest = check_hash(path, card)
    mapped, origin = map_keys(state, card)
    check_fit(model, mapped, origin, card, path)
    return mapped, digest


def build_published(name: str, **training: Any) -> GazeModel:
    """The card's model with random weights (``pretrained=false``: nothing is downloaded);
    ``training``: values of :data:`~gazebench.published.cards.TRAINING_ONLY_OPTIONS` (a fine-tuning
    run's drop path)."""
    import gazebench.models  # noqa: F401  (registers the named models)

    card = published_card(name)
    other = sorted(set(training) - set(TRAINING_ONLY_OPTIONS))
    if other:
        raise ConfigError(
            f"{card.tag} fixes the model's options ({card.path.name}: options); a run from it may "
            f"set only {', '.join(TRAINING_ONLY_OPTIONS)}, not {', '.join(other)}"
        )
    return build_model(card.model, **{**card.options, **training, "pretrained": False})


def record_weights(model: GazeModel, weights: Weights) -> None:
    """Make ``model.weights`` report ``weights`` (a composed model reads its backbone's)."""
    if hasattr(getattr(model, "backbone", None), "weights"):
        model.backbone.weights = weights
    else:
        model.weights = weights.as_dict()


def load_published(
    name: str, weights_file: str | Path, device: str | torch.device = "cpu", **training: Any
) -> GazeModel:
    """The published checkpoint ``name`` (:func:`gazebench.published.published_card`) loaded from
    ``weights_file`` into its registered model, on ``device``, in eval mode.  ``model.weights`` is
    ``{"tag": "published:<name>", "file": <path>, "sha256": <hex>}``.  ``training``: options that
    act only in training (:func:`build_published`)."""
    model = build_published(name, **training)
    path = Path(weights_file).expanduser()
    mapped, digest = published_state_dict(name, path, model, device)
    model.load_state_dict(mapped, strict=True)
    record_weights(model, Weights(published_card(name).tag, str(path), digest))
    model.published = name
    return model.to(device).eval()
