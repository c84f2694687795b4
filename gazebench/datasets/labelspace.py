"""What a dataset's gaze label means physically, and whether two datasets' labels can be joined.

Every adapter converts its release's label into gazebench's canonical unit vector
(:mod:`gazebench.core.geometry`), but the *frame* that vector is measured in and the *images* it goes
with are the release's: ETH-XGaze and MPIIFaceGaze give the gaze in a normalised camera (Zhang,
Sugano, Bulling, ETRA 2018: a virtual camera at a fixed distance looking at the face centre, head
roll removed) with the matching normalised face images; Gaze360 gives it in the eye frame of its
panoramic camera's view of the person (no pinhole camera, so no normalisation) with head crops.

A card declares this as ``label_space:`` (read through :meth:`gazebench.datasets.cards.Card.label_space`)::

    label_space:
      frame: normalised-camera      # camera | normalised-camera | head
      images: normalised-face       # normalised-face | face-crop | head-crop | eye-patch
      normalised: true              # the images and labels went through the data normalisation
      source: >                     # where the facts come from (repository @ commit, file, line)
        ...
      by_option: {layout: {gazehub: {images: face-crop}}}   # an adapter option that changes them

Joining (training one model on several datasets, :mod:`gazebench.datasets.joint`): the labels must
be directions in frames of one *family* (:data:`FRAME_FAMILY`: a camera and a normalised camera
both give the gaze seen from a camera facing the subject, and differ by the normalisation's rotation
-- PureGaze's cross-domain code reads GazeHub's Gaze360 labels as released beside normalised ones,
yihuacheng/PureGaze @ 5e3a9f4, model/reader/reader_adap.py; a head frame is relative to the head and
cannot be mixed with them), and the images must
show the same part of the person (:data:`IMAGE_FAMILY`: face and head crops are one family, eye
patches another).  :func:`join_problem` says in one line why a set of datasets cannot be joined.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: the frames a label can be in, and the family each belongs to (labels join within a family)
FRAME_FAMILY = {"camera": "camera", "normalised-camera": "camera", "head": "head"}
#: what the images show, and the family each belongs to
IMAGE_FAMILY = {"normalised-face": "face", "face-crop": "face", "head-crop": "face", "eye-patch": "eye"}
KEYS = ("frame", "images", "normalised", "source", "by_option")


@dataclass(frozen=True)
class LabelSpace:
    """A dataset's label space under one set of adapter options (see the module docstring)."""

    frame: str
    images: str
    normalised: bool
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.frame} frame, {self.images} images, " + ("normalised" if self.normalised else "not normalised")


def parse_label_space(raw: Any, where: str, options: dict[str, Any] | None = None) -> LabelSpace:
    """The card's ``label_space:`` mapping under adapter ``options`` (``by_option`` entries whose
    option has that value override the base keys); a malformed entry names the key and the fix."""
    from gazebench.core.errors import UserValueError

    if not isinstance(raw, dict):
        raise UserValueError(f"{where}: label_space must be a mapping with keys {', '.join(KEYS[:4])}")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise UserValueError(f"{where}: label_space has unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    values = {k: raw.get(k) for k in ("frame", "images", "normalised", "source")}
    for option, by_value in (raw.get("by_option") or {}).items():
        chosen = (by_value or {}).get((options or {}).get(option))
        if chosen:
            values.update(chosen)
    for key, allowed in (("frame", FRAME_FAMILY), ("images", IMAGE_FAMILY)):
        if values[key] not in allowed:
            raise UserValueError(f"{where}: label_space.{key} is {values[key]!r}; give one of {', '.join(allowed)}")
    if not isinstance(values["normalised"], bool):
        raise UserValueError(f"{where}: label_space.normalised must be true or false")
    return LabelSpace(
        str(values["frame"]), str(values["images"]), values["normalised"], " ".join(str(values["source"] or "").split())
    )


def join_problem(spaces: dict[str, LabelSpace | None]) -> str | None:
    """Why the datasets of ``spaces`` ({name: label space, None when its card declares none})
    cannot be trained on together, in one line naming them; None when they can."""
    names = sorted(spaces)
    undeclared = [n for n in names if spaces[n] is None]
    if undeclared:
        return (
            f"cannot join {', '.join(names)}: the card of {', '.join(undeclared)} declares no label_space "
            "(frame, images, normalised; docs/multidataset.md), so its labels cannot be checked against the others'"
        )
    for key, families, what in (("frame", FRAME_FAMILY, "gaze frames"), ("images", IMAGE_FAMILY, "images")):
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(families[getattr(spaces[n], key)], []).append(n)
        if len(groups) > 1:
            parts = "; ".join(f"{', '.join(f'{n} ({getattr(spaces[n], key)})' for n in ns)}" for ns in groups.values())
            return f"cannot join {', '.join(names)}: their {what} differ ({parts}); one model cannot learn both label spaces"
    return None
