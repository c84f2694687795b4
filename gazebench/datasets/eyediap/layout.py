"""EYEDIAP's release, written from a SynthGaze scene (``gazebench synth --layout eyediap``).

Participants, sessions and sampled frames as in GazeHub's layout
(:func:`gazebench.datasets.eyediap.sessions.plan_samples`: one participant per SynthGaze subject,
its sequences as its screen-target sessions, a sample every 15 video frames).  Each session folder
``Data/<N>_A_<DS|CS>_<S|M>/`` gets

* ``rgb_vga.mov``: an H.264 video (PyAV; :func:`_write_video`), 2S x 2S pixels for the scene's image size S, 30 fps,
  one frame per video frame up to the last sample; frame f shows the rendered face of the sample
  at or before it (the frames between two samples repeat it), centred on a grey background;
* ``rgb_vga_calibration.txt`` (and ``depth_calibration.txt``, the world camera: identity), in the
  release's format: a camera with focal length 960 S / P (P = ``face_size``, the adapter's
  normalised face size) and its principal point at the frame's centre, placed in the world by a
  small rotation and a few centimetres' offset, so that reading the files exercises the world ->
  camera transform;
* ``head_pose.txt``, ``eye_tracking.txt``, ``screen_coordinates.txt``: a header and one line per
  video frame.  The geometry is chosen so that the adapter's normalisation gives back the rendered
  face and its label: the face centre (the mean of the eyes' midpoint and the head's origin) is
  600 mm in front of the camera on its axis, the head turned by the SynthGaze head's yaw (clipped to
  80 degrees) and pitch and never rolled (the roll is in the pixels), so the normalising rotation is
  the identity and the 960 S / P focal length maps the S-pixel face onto the P-pixel patch; the
  target is 700 mm from the face centre along the label's camera-frame gaze.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazebench.core import geometry
from gazebench.core.videoio import import_av
from gazebench.datasets.eyediap.release import CALIBRATION, EYE_FILE, HEAD_FILE, SCREEN_FILE, VIDEO
from gazebench.datasets.eyediap.sessions import plan_samples
from gazebench.synth.output import SOURCE_FILE, render_all, scene_info, write_json
from gazebench.synth.scene import Scene, rotation

#: the normalised camera of the adapter: focal length and distance (GazeHub's and UniGaze's)
FOCAL, DISTANCE = 960.0, 600.0
#: the face centre's distance to the target (mm)
TARGET_DISTANCE = 700.0
#: the eyes' midpoint and the head's origin sit this far apart (mm, camera frame), around the face centre
EYES_TO_HEAD = np.array([0.0, 80.0, 60.0])
HALF_IPD = 32.0
#: where the VGA camera sits in the world (the depth camera's frame): rotation, translation (metres)
CAMERA_ROTATION = rotation(np.radians(3.0), np.radians(-2.0), 0.0)
CAMERA_TRANSLATION = np.array([0.025, -0.010, 0.005])
MAX_HEAD_YAW = np.radians(80.0)
FPS = 30
BACKGROUND = 128


def _fmt(values: np.ndarray) -> str:
    return ";".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).reshape(-1))


def calibration_text(size: tuple[int, int], k: np.ndarray, r: np.ndarray, t: np.ndarray) -> str:
    rows = [
        "[resolution]",
        f"{size[0]};{size[1]}",
        "[intrinsics]",
        *(_fmt(row) for row in k),
        "[R]",
        *(_fmt(row) for row in r),
        "[T]",
        *(repr(float(v)) for v in t),
    ]
    return "\n".join(rows) + "\n"


def _head_in_camera(yaw: float, pitch: float) -> np.ndarray:
    """SynthGaze's head yaw (clipped) and pitch, no roll, as a rotation in the camera frame (x right,
    y down): its x axis stays in the camera's x-z plane, so normalisation adds no roll."""
    flip = np.diag([-1.0, -1.0, 1.0])
    return flip @ rotation(float(np.clip(yaw, -MAX_HEAD_YAW, MAX_HEAD_YAW)), pitch, 0.0) @ flip


def frame_lines(k: np.ndarray, gaze: np.ndarray, head_yaw: float, head_pitch: float) -> tuple[str, str, str]:
    """The ``head_pose``, ``eye_tracking`` and ``screen_coordinates`` numbers of one sample (world, metres)."""
    centre = np.array([0.0, 0.0, DISTANCE])
    head_r = _head_in_camera(head_yaw, head_pitch)
    head_t, mid = centre + EYES_TO_HEAD, centre - EYES_TO_HEAD
    eyes = [mid + HALF_IPD * head_r[:, 0], mid - HALF_IPD * head_r[:, 0]]  # the subject's left eye on the image's right
    target = centre + TARGET_DISTANCE * geometry.from_camera_frame(geometry.normalize(gaze))

    def world(p: np.ndarray) -> np.ndarray:
        return CAMERA_ROTATION @ (p / 1000.0) + CAMERA_TRANSLATION

    pixels = [(k @ e)[:2] / (k @ e)[2] for e in eyes]
    head = np.concatenate([(CAMERA_ROTATION @ head_r).reshape(-1), world(head_t)])
    eye2d = np.concatenate(pixels)
    eye_values = np.concatenate([eye2d, eye2d, np.zeros(4), world(eyes[0]), world(eyes[1])])
    screen = np.concatenate([[840.0 + target[0] / 0.3, target[1] / 0.3], world(target)])
    return _fmt(head), _fmt(eye_values), _fmt(screen)


def _write_video(path: Path, images: list[np.ndarray], fps: int = FPS) -> None:
    """``images`` as a QuickTime video: H.264 4:4:4, lossless (crf 0), one thread, so the bytes are
    the same on every run and a decoded frame is the rendered one up to colour conversion; MPEG-4
    4:2:0 at a high bit rate where PyAV's FFmpeg lacks libx264 (chroma subsampling then blurs the
    colours of small faces by a few grey levels)."""
    av = import_av("writing EYEDIAP's videos")
    lossless = "libx264" in av.codecs_available
    with av.open(str(path), "w", format="mov") as container:
        stream = container.add_stream("libx264" if lossless else "mpeg4", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv444p" if lossless else "yuv420p"
        stream.options = {"crf": "0", "g": "30"} if lossless else {"qmax": "2", "g": "30"}
        stream.codec_context.thread_count = 1
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def write_layout(scene: Scene, root: Path, workers: int = 2, progress: bool = True, face_size: int = 224) -> None:
    """Write ``scene`` into the empty folder ``root`` as EYEDIAP's release (see the module docstring);
    ``face_size``: the adapter's normalised face size the camera is chosen for (its ``face_size``)."""
    f = scene.frames
    samples = plan_samples(scene)
    sessions: dict[str, list[int]] = {}
    for r, s in enumerate(samples):
        if s is not None:
            sessions.setdefault(s["session"], []).append(r)
    names = sorted(sessions, key=lambda q: (int(q.split("_")[0]), q))
    plan = [(sessions[q], [[(True, 1.0, None)] for _ in sessions[q]]) for q in names]
    pixels = render_all(scene, root, plan, workers, progress, "eyediap layout")
    size = scene.image_size
    side = 2 * size
    k = np.array(
        [[FOCAL * size / face_size, 0.0, side / 2], [0.0, FOCAL * size / face_size, side / 2], [0.0, 0.0, 1.0]]
    )
    gaze = f[["gaze_x", "gaze_y", "gaze_z"]].to_numpy(np.float64)
    head = f[["head_yaw", "head_pitch"]].to_numpy(np.float64)
    for q, images in zip(names, pixels):
        folder = root / "Data" / q
        folder.mkdir(parents=True)
        rows = sessions[q]
        last = samples[rows[-1]]["frame"]
        lines = {name: [] for name in (HEAD_FILE, EYE_FILE, SCREEN_FILE)}
        frames = []
        for j, (r, image) in enumerate(zip(rows, images)):
            start, stop = samples[r]["frame"], (samples[rows[j + 1]]["frame"] if j + 1 < len(rows) else last + 1)
            canvas = np.full((side, side, 3), BACKGROUND, dtype=np.uint8)
            canvas[size // 2 : size // 2 + size, size // 2 : size // 2 + size] = image
            values = frame_lines(k, gaze[r], *head[r])
            for number in range(start, stop):
                frames.append(canvas)
                for name, text in zip(lines, values):
                    lines[name].append(f"{number};{text}")
        _write_video(folder / VIDEO, frames)
        (folder / CALIBRATION).write_text(calibration_text((side, side), k, CAMERA_ROTATION, CAMERA_TRANSLATION))
        (folder / "depth_calibration.txt").write_text(calibration_text((side, side), k, np.eye(3), np.zeros(3)))
        headers = {
            HEAD_FILE: "Head pose: frame;R (9, row major);T (3, metres)",
            EYE_FILE: "Eyes: frame;VGA lx;ly;rx;ry;depth lx;ly;rx;ry;HD lx;ly;rx;ry;3D lx;ly;lz;rx;ry;rz",
            SCREEN_FILE: "Screen: frame;x;y (pixels);3D x;y;z (metres)",
        }
        for name, text in lines.items():
            (folder / name).write_text("\n".join([headers[name], *text]) + "\n")
    info = scene_info(scene, "eyediap")
    info.update(
        {
            "mapping": "SynthGaze subject -> participant pN; its sequences -> the sessions N_A_DS_S, N_A_DS_M, "
            "N_A_CS_S, N_A_CS_M in turn, a sample every 15 video frames; adapter id pN/<session>/<frame>",
            "samples": {
                f"{s['subject']}/{s['session']}/{s['frame']}": str(f["id"].iat[r])
                for r, s in enumerate(samples)
                if s is not None
            },
            "face_size": face_size,
            "video": f"rgb_vga.mov: H.264 4:4:4 lossless (MPEG-4 without libx264), {side}x{side}, {FPS} fps; the face ({size} px) centred, focal "
            f"{FOCAL * size / face_size:g} px, so that a {face_size} px normalised face is the rendered one",
        }
    )
    write_json(root / SOURCE_FILE, info)
