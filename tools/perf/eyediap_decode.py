"""How fast EYEDIAP's release gives frames: a VGA session video decoded in sample order (what
``gazebench prepare`` and check-data do) against random order (a training epoch without the cache).

    python tools/perf/eyediap_decode.py --frames 900 --step 15

Writes one 640x480, 30 fps H.264 4:2:0 video (smooth moving gradients plus noise, a keyframe every
``--gop`` frames) to a temporary folder and reads every ``--step``-th frame through
:class:`gazebench.datasets.eyediap.video.SessionVideos`, in order and shuffled; prints ms per
sampled frame for both (the normalisation warp is not included).  The release's own videos have
their own codec and keyframe spacing, so the figures say how the two access patterns compare, not
what a given copy of EYEDIAP costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from gazebench.core.videoio import import_av
from gazebench.datasets.eyediap.video import SessionVideos


def write_video(path: Path, frames: int, gop: int) -> None:
    av = import_av()
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    with av.open(str(path), "w", format="mov") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"g": str(gop), "crf": "18"}
        for f in range(frames):
            base = ((x + 3 * f) % 256 + (y // 2)) % 256
            image = np.stack([base, (base + 85) % 256, (base + 170) % 256], -1).astype(np.int16)
            image += rng.integers(-8, 9, image.shape, dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--step", type=int, default=15)
    parser.add_argument("--gop", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rgb_vga.mov"
        write_video(path, args.frames, args.gop)
        wanted = list(range(0, args.frames, args.step))
        shuffled = list(np.random.default_rng(1).permutation(wanted))
        for name, order in (("in order", wanted), ("random", shuffled)):
            videos = SessionVideos()
            start = time.perf_counter()
            for f in order:
                videos.read(path, int(f))
            ms = 1000 * (time.perf_counter() - start) / len(order)
            print(
                f"{name:9s} {len(order)} frames of {args.frames} (every {args.step}th, keyframe every {args.gop}): "
                f"{ms:.1f} ms per frame"
            )
            videos.close()


if __name__ == "__main__":
    main()
