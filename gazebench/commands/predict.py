"""``gazebench predict``: a model on your own images, folders of frames and videos (docs/predict.md).

The model comes from a finished run (``--run``), a registered name (``--model``, untrained unless
``--weights`` is given) or a published checkpoint (``--published NAME --weights FILE``).  Each
frame's head crop (the whole frame, ``--crops FILE`` or ``--detector NAME``) is resized and
normalised exactly as in training; sequence models read their frame window over consecutive frames.
A checkpoint trained on normalised faces (its card's ``input.image: normalised-face``, or
``--input normalised-face``) gets each face normalised instead: landmarks (``--landmarker``), head
pose by PnP, the normalised patch; its gaze is turned back into the camera frame.
Writes ``gaze.csv`` and ``gaze.json`` (one row per frame) and the frames with the gaze arrow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  gazebench predict --run results/synthgaze/static/fold-default_seed-0_1a2b3c4d5e.json face.jpg --out pred/
  gazebench predict --run runs/synthgaze/static/fold-default_seed-0_1a2b3c4d5e clip.mp4 --out pred/
  gazebench predict --published gaze360-lstm --weights gaze360_model.pth.tar clip.mp4 --out pred/ --crops heads.csv
  gazebench predict --run RUN frames/ --recursive --out pred/ --video-out png
  gazebench predict --run RUN clip.mp4 --detector opencv-haar --crop-scale 1.6 --out pred/
  gazebench predict --published unigaze-b16-joint --weights unigaze_b16_joint.safetensors clip.mp4 --out pred/ --focal 900
  gazebench predict --model static --set backbone=test_resnet img.png --out /tmp/p     pipeline smoke test (untrained)

crop file (--crops): CSV with the header input,frame,x,y,w,h: the image or video, the frame number
(0-based decoding order; 0 or empty for images), the box's top-left corner and size in pixels.
output: yaw > 0 looks towards the image's left, pitch > 0 up (the Gaze360 convention; docs/predict.md).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="run a model on your own images and videos", epilog=EXAMPLES)
    which = p.add_argument_group("which model (one of)").add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--run",
        type=Path,
        metavar="RUN",
        help="a finished run: its result JSON (results/...) or its run folder (runs/..., with best.pt)",
    )
    which.add_argument(
        "--model",
        metavar="NAME",
        help="a registered model (`gazebench ls models`); --set its options "
        "and image_size; untrained unless --weights FILE",
    )
    which.add_argument(
        "--published",
        metavar="NAME",
        help="a published checkpoint (`gazebench ls published`), with --weights FILE (the authors' file)",
    )
    p.add_argument(
        "--weights",
        type=Path,
        metavar="FILE",
        help="with --published: the authors' checkpoint; with --model: a gazebench best.pt or last.pt",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="with --model: a model option (`gazebench ls models`) or image_size (repeatable)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="where to find the result record of a --run folder (default results/)",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders of images, videos")
    p.add_argument(
        "--out", type=Path, required=True, help="output folder, new or empty: gaze.csv, gaze.json, drawn frames"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="--out holds a previous prediction: replace its files (gaze.csv, gaze.json and the drawn "
        "frames its gaze.json lists); nothing else in the folder is touched",
    )
    p.add_argument("--recursive", action="store_true", help="look into the subfolders of INPUT folders")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--crops", type=Path, metavar="FILE", help="head boxes per frame: CSV input,frame,x,y,w,h")
    where.add_argument(
        "--detector", metavar="NAME", help='a face/head detector plugin (opencv-haar: pip install "gazebench[detect]")'
    )
    p.add_argument(
        "--crop-scale",
        type=float,
        metavar="F",
        help="scale each box of --crops/--detector about its centre (e.g. 1.6: face box -> head box)",
    )
    norm = p.add_argument_group("normalised faces (checkpoints trained on them: docs/predict.md)")
    norm.add_argument(
        "--input",
        choices=("auto", "face-box", "normalised-face"),
        default="auto",
        help="what the model sees: auto (a published card's input.image; face-box for --run and "
        "--model), a face box as is, or the normalised face",
    )
    norm.add_argument(
        "--landmarker",
        default="mediapipe",
        metavar="NAME",
        help='facial landmarks for the head pose (default mediapipe: pip install "gazebench[landmarks]")',
    )
    norm.add_argument(
        "--landmarker-model",
        type=Path,
        metavar="PATH",
        help="the landmarker's model file (mediapipe: face_landmarker.task; default: downloaded once to the cache)",
    )
    norm.add_argument(
        "--focal",
        type=float,
        metavar="PX",
        help="the camera's focal length in pixels (default: the frame's width); principal point at the centre",
    )
    p.add_argument(
        "--video-out",
        choices=("mp4", "png", "none"),
        default="mp4",
        help="drawn videos as MP4 (default), one PNG per frame, or not drawn",
    )
    p.add_argument("--batch-size", type=int, default=64, help="frames per forward pass (default 64)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def load_predictor(args: argparse.Namespace):
    from gazebench.core.config import ConfigError, parse_sets
    from gazebench.predict import predictors

    if args.sets and not args.model:
        raise ConfigError("--set goes with --model NAME (a run's and a published checkpoint's options are fixed)")
    if args.run:
        if args.weights:
            raise ConfigError("--weights goes with --model or --published; a run's weights are its best.pt")
        return predictors.from_run(args.run, args.results)
    if args.published:
        if not args.weights:
            raise ConfigError(
                f"--published {args.published} needs --weights FILE, the authors' checkpoint "
                "(docs/published.md says where each is hosted)"
            )
        return predictors.from_published(args.published, args.weights)
    return predictors.from_model(args.model, parse_sets(args.sets), args.weights)


def input_kind(args: argparse.Namespace) -> str:
    """``face-box`` or ``normalised-face``: ``--input``, else a published card's ``input.image``
    (read from the card alone, before any weights), else ``face-box``."""
    from gazebench.core.config import ConfigError
    from gazebench.predict.normalise import FACE_BOX, NORMALISED_FACE, card_image_kind

    if args.input != "auto":
        kind = args.input
    elif args.published:
        from gazebench.published import published_card

        kind = card_image_kind(published_card(args.published))
    else:
        kind = FACE_BOX
    if kind == NORMALISED_FACE:
        given = [
            flag
            for flag, value in (
                ("--crops", args.crops),
                ("--detector", args.detector),
                ("--crop-scale", args.crop_scale),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"{', '.join(given)}: the model reads normalised faces, found by --landmarker; "
                "boxes are for --input face-box"
            )
    elif args.landmarker_model is not None or args.focal is not None:
        raise ConfigError(
            "--landmarker-model and --focal go with normalised faces (--input normalised-face, or a "
            "published card whose input.image is normalised-face)"
        )
    return kind


def normalising_locator(args: argparse.Namespace, predictor):
    """The normalising path's locator, at the model's virtual camera (its card's, or ETH-XGaze's 224 px
    patch scaled to the model's input size)."""
    from gazebench.predict.landmarks import build_landmarker
    from gazebench.predict.normalise import NORMALISED_FACE, NormalisedFaces, VirtualCamera

    predictor.image = NORMALISED_FACE
    if predictor.camera is None or predictor.camera.size != predictor.image_size:
        predictor.camera = VirtualCamera.for_size(predictor.image_size)
    landmarker = build_landmarker(args.landmarker, args.landmarker_model)
    return NormalisedFaces(landmarker, args.landmarker, predictor.camera, args.focal)


def make_locator(args: argparse.Namespace):
    from gazebench.core.config import ConfigError
    from gazebench.predict.crops import CropFile, Scaled, WholeFrame

    if args.crop_scale is not None and not (args.crops or args.detector):
        raise ConfigError("--crop-scale scales the boxes of --crops or --detector")
    if args.crop_scale is not None and args.crop_scale <= 0:
        raise ConfigError(f"--crop-scale must be > 0; got {args.crop_scale}")
    if args.crops:
        locator = CropFile(args.crops)
    elif args.detector:
        from gazebench.predict.detectors import DetectorLocator, build_detector

        locator = DetectorLocator(build_detector(args.detector), args.detector)
    else:
        return WholeFrame()
    return Scaled(locator, args.crop_scale) if args.crop_scale is not None else locator


def report_gaps(locator, pred, inputs: int) -> None:
    """Warnings: frames without a head box; crop-file rows no frame used; no frame predicted."""
    from gazebench.core.config import ConfigError

    if pred.skipped:
        print(
            f"warning: {len(pred.skipped)} frame(s) have no head box ({locator.describe()}) and are left out, "
            f"e.g. {pred.skipped[0][0]} frame {pred.skipped[0][1]}",
            file=sys.stderr,
        )
    unused = locator.unused() if hasattr(locator, "unused") else []
    if unused:
        print(
            f"warning: {len(unused)} row(s) of the {locator.describe()} match no frame of the inputs, e.g. "
            f"input {unused[0][0]} frame {unused[0][1]}",
            file=sys.stderr,
        )
    if not pred.located:
        raise ConfigError(
            f"no frame of the {inputs} input(s) has a head box ({locator.describe()}); nothing to predict"
        )


def main(args: argparse.Namespace) -> int:
    from gazebench.core.atomic import check_writable
    from gazebench.predict import infer, inputs, output
    from gazebench.predict.normalise import FACE_BOX

    sequences = inputs.collect(args.inputs, args.recursive)
    kind = input_kind(args)
    locator = make_locator(args) if kind == FACE_BOX else None
    predictor = load_predictor(args)
    if locator is None:
        locator = normalising_locator(args, predictor)
    else:
        predictor.image, predictor.camera = FACE_BOX, None
    check_writable(args.out)
    targets = output.drawn_targets(sequences, args.out, args.video_out)
    previous = output.prepare_out(args.out, targets, args.overwrite)
    pred = infer.predict(predictor, sequences, locator, args.device, args.batch_size, not args.quiet)
    report_gaps(getattr(locator, "inner", locator), pred, len(sequences))
    table = output.gaze_table(pred)
    output.clear_previous(previous)
    about = {
        "predictor": predictor.about,
        "input": predictor.image,
        "crops": locator.describe(),
        "inputs": [
            {"input": str(s.path), "kind": s.kind, "drawn": str(t) if t else None} for s, t in zip(sequences, targets)
        ],
    }
    csv_path, _ = output.write_tables(table, args.out, about)
    output.draw_all(sequences, targets, pred, not args.quiet)
    print(
        f"{len(table)} frames predicted ({predictor.about['model']}, {predictor.about['view']}, "
        f"{predictor.image_size} px, {predictor.image}) -> {csv_path}, gaze.json and the drawn frames in {args.out}",
        file=sys.stderr,
    )
    return 0
