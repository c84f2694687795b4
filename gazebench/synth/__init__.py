"""SynthGaze: the embedded, procedurally rendered gaze dataset (exact labels, no download).

``make_scene(preset, seed)`` draws all parameters of a set (subjects, and per frame: head pose, gaze,
zoom, light, blur, noise) from a seed; ``render_frames(scene, rows)`` ray-casts the pixels of any rows
of it; ``write_layout(scene, out, layout)`` writes the set to disk:

- ``synthgaze``: ``synthgaze.json``, ``labels.csv`` and ``images/`` + ``inpainted/`` JPEGs;
- ``gaze360``: ``metadata.mat``, ``imgs/rec_XXX/head/PPPPPP/FFFFFF.jpg`` and the split files;
- ``rtgene``: ``sNNN_glasses/label_combined.txt`` and the ``inpainted`` / ``original`` face PNGs;
- ``mpiifacegaze``: ``pNN.mat`` (HDF5, ``Data/data`` BGR NCHW and ``Data/label``).

Foreign layouts carry a ``synthgaze_source.json`` that maps their ids back to SynthGaze's.
The same seed always gives byte-identical files, whatever the number of worker processes.
"""

from gazebench.synth.layouts import LAYOUTS, LayoutError, default_splits, write_layout
from gazebench.synth.render import render_debug, render_frames
from gazebench.synth.scene import (
    EXTRA_COLUMNS,
    FRAME_COLUMNS,
    GENERATOR_VERSION,
    PRESETS,
    Preset,
    Scene,
    SubjectParams,
    make_scene,
)

__all__ = [
    "EXTRA_COLUMNS",
    "FRAME_COLUMNS",
    "GENERATOR_VERSION",
    "LAYOUTS",
    "PRESETS",
    "LayoutError",
    "Preset",
    "Scene",
    "SubjectParams",
    "default_splits",
    "make_scene",
    "render_debug",
    "render_frames",
    "write_layout",
]
