"""SynthGaze: the embedded, procedurally rendered gaze dataset (exact labels, no download).

``make_scene`` draws all parameters of a set (subjects, per-frame head pose, gaze, zoom, light) from
a seed; ``render_frames`` ray-casts pixels for any rows of it; ``write_layout`` writes the set to disk
in SynthGaze's own layout or in the on-disk layouts of Gaze360, RT-GENE or MPIIFaceGaze.
"""

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
from gazebench.synth.render import render_debug, render_frames
from gazebench.synth.layouts import LAYOUTS, LayoutError, default_splits, write_layout

__all__ = [
    "EXTRA_COLUMNS",
    "FRAME_COLUMNS",
    "GENERATOR_VERSION",
    "LAYOUTS",
    "LayoutError",
    "PRESETS",
    "Preset",
    "Scene",
    "SubjectParams",
    "default_splits",
    "make_scene",
    "render_debug",
    "render_frames",
    "write_layout",
]
