"""Published checkpoints and predict on CUDA, checked against the CPU in one go on a GPU machine.

    PYTHONPATH=. python tools/perf/gpu_published.py --out /tmp/gpu     (from the repository root)

1. Each peer reference that tests/test_published.py checks on the CPU is loaded with
   ``load_published(name, file, device="cuda")`` and run on the GPU in fp32: the largest difference
   from the authors' outputs (expected.npz) is reported per card.
2. ``gazebench reproduce gaze360-lstm`` on a SynthGaze tree in the Gaze360 layout with
   ``--set device=cuda``: the record's device and the comparison table.
3. ``gazebench predict --run`` of a tiny CPU-trained run on a folder of images, ``--device cuda``
   and ``--device cpu``: the largest difference between the two gaze.csv files.

Writes ``gpu_published.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WORK = Path("/tmp/gpu-published")


def peer_checks() -> dict[str, float]:
    import torch

    sys.path.insert(0, str(ROOT))
    from gazebench.published import load_published
    from gazebench.train.engine import configure_matmul_precision
    from tests.test_published import NAMES, PEER, REFERENCE, peer_tolerance, reference_weights, save_released  # noqa: E402

    configure_matmul_precision("fp32")
    out = {}
    for name in NAMES:
        compare, add_view_axis = PEER[name]
        path = save_released(name, reference_weights(REFERENCE / name), WORK / f"{name}.pth")
        model = load_published(name, path, device="cuda")
        views = torch.from_numpy(np.load(REFERENCE / name / "views.npy")).cuda()
        with torch.inference_mode():
            got = {k: v.float().cpu() for k, v in model(views.unsqueeze(1) if add_view_axis else views).items()}
        expected = np.load(REFERENCE / name / "expected.npz")
        pairs = list(compare(got, expected))
        diffs = [float(np.abs(g.double().numpy() - w).max()) for _, g, w in pairs]
        out[name] = {"max_diff": max(diffs), "tolerance": min(peer_tolerance(w) for _, _, w in pairs)}
    return out


def gazebench(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gazebench", *args], capture_output=True, text=True, env=env)


def reproduce_on_cuda() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from gazebench.datasets.gaze360.fake import render as render_gaze360  # noqa: E402

    tree = WORK / "g360"
    render_gaze360(tree)
    proc = gazebench(
        [
            "reproduce",
            "gaze360-lstm",
            "--root",
            str(tree),
            "--weights",
            str(WORK / "gaze360-lstm.pth"),
            "--results",
            str(WORK / "results"),
            "--runs",
            str(WORK / "runs"),
            "--quiet",
            "--set",
            "device=cuda",
        ]
    )
    records = sorted((WORK / "results").rglob("*.json"))
    device = json.loads(records[-1].read_text())["environment"].get("device") if records else None
    return {"exit": proc.returncode, "device": device, "table": proc.stdout[-2000:], "stderr": proc.stderr[-1500:]}


def predict_cuda_vs_cpu() -> dict[str, Any]:
    synth = WORK / "synth"
    gazebench(["synth", "--out", str(synth), "--preset", "tiny", "--workers", "4"])
    run = gazebench(
        [
            "run",
            "--root",
            str(synth),
            "--model",
            "static",
            "--epochs",
            "1",
            "--backbone",
            "test_resnet",
            "--set",
            "image_size=32",
            "--set",
            "device=cpu",
            "--results",
            str(WORK / "r"),
            "--runs",
            str(WORK / "rr"),
            "--quiet",
            "--no-table",
        ]
    )
    record = sorted((WORK / "r").rglob("*.json"))[-1]
    images = sorted((synth / "images").rglob("*.jpg"))[:16]
    tables = {}
    for device in ("cuda", "cpu"):
        proc = gazebench(
            [
                "predict",
                "--run",
                str(record),
                *map(str, images),
                "--out",
                str(WORK / device),
                "--device",
                device,
                "--video-out",
                "none",
                "--quiet",
            ]
        )
        if proc.returncode:
            return {"exit": proc.returncode, "stderr": proc.stderr[-1500:], "train_exit": run.returncode}
        import pandas as pd

        tables[device] = pd.read_csv(WORK / device / "gaze.csv")
    cols = ["gaze_x", "gaze_y", "gaze_z"]
    diff = float(np.abs(tables["cuda"][cols].to_numpy() - tables["cpu"][cols].to_numpy()).max())
    return {"rows": len(tables["cpu"]), "max_abs_vector_diff": diff}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/gpu")))
    args = p.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    for key, step in (
        ("peer_cuda_max_diff", peer_checks),
        ("reproduce", reproduce_on_cuda),
        ("predict", predict_cuda_vs_cpu),
    ):
        try:
            report[key] = step()
        except Exception as exc:  # noqa: BLE001 - report every step, whatever happens in one
            report[key] = {"error": f"{type(exc).__name__}: {exc}"}
        (args.out / "gpu_published.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
