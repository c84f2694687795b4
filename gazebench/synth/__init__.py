"""SynthGaze: the embedded, procedurally rendered gaze dataset (exact labels, no download).

``make_scene(preset, seed)`` draws all parameters of a set (subjects, and per frame: head pose, gaze,
zoom, light, blur, noise) from a seed; ``render_frames(scene, rows)`` ray-casts the pixels of any rows
of it; ``write_layout(scene, out, layout)`` writes the set to disk, in SynthGaze's own layout
(``synthgaze.json``, ``labels.csv`` and ``images/`` + ``inpainted/`` JPEGs) or in the on-disk layout
of any registered dataset whose adapter provides a writer (``layout_names()``: the built-ins'
writers are ``gazebench/datasets/<name>/layout.py``).

Foreign layouts carry a ``synthgaze_source.json`` that maps their ids back to SynthGaze's.
The same seed always gives byte-identical files, whatever the number of worker processes.
"""

from gazebench.synth.layouts import layout_names, layout_options, layout_writer, write_layout
from gazebench.synth.output import LayoutError
from gazebench.synth.render import render_debug, render_frames
from gazebench.synth.scene import (
    EXTRA_COLUMNS,
    FRAME_COLUMNS,
    GENERATOR_VERSION,
    PRESETS,
    Preset,
    Scene,
    SubjectParams,
    head_size,
    make_scene,
)

__all__ = [
    "EXTRA_COLUMNS",
    "FRAME_COLUMNS",
    "GENERATOR_VERSION",
    "PRESETS",
    "LayoutError",
    "Preset",
    "Scene",
    "SubjectParams",
    "head_size",
    "layout_names",
    "layout_options",
    "layout_writer",
    "make_scene",
    "render_debug",
    "render_frames",
    "write_layout",
]
