"""The CUDA path, exercised and measured in one go on a GPU machine.

    PYTHONPATH=. python tools/perf/gpu.py --out /tmp/gpu        (from the repository root)

1. A bare timm loop on the GPU (the reference): ResNet-18, 224 px, batch 80, random inputs already
   on the device, Adam, fp32 and bf16 autocast, channels_last -- samples/s.
2. ``gazebench bench`` (data path, model step, full step) at the Gaze360 protocol's sizes (224 px,
   batch 80) on a prepared frame cache of SynthGaze: ``static`` (1 view), ``staticsclstmsym``
   (7 zoom crops of one frame), ``seqlstm`` (7 frames), in fp32, bf16 and fp16.
3. Short real runs on CUDA: ``static`` with the Gaze360 protocol's augmentation (resized_crop
   per frame on the device) in bf16, ``seqsclstmsym`` in fp16 (GradScaler), ``static`` with
   ``compile=true``; each must write its record, with the device named in its environment.

Everything goes to ``--out``: ``gpu.json`` (all figures) and ``log.txt``.  Figures on a GPU
depend on the machine; docs/performance.md quotes them with the machine named.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZE, BATCH = 224, 80
#: renders, caches, checkpoints and records: outside --out, which holds only the report
WORK = Path("/tmp/gpu-work")


def bare_loop(precision: str, seconds: float = 6.0) -> dict[str, Any]:
    """Samples/s of a plain timm training loop on random device tensors."""
    import timm
    import torch

    model = timm.create_model("resnet18", num_classes=3).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(BATCH, 3, SIZE, SIZE, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randn(BATCH, 3, device="cuda")
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision]

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.l1_loss(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += BATCH
    torch.cuda.synchronize()
    return {"precision": precision, "samples_per_s": n / (time.perf_counter() - start)}


def gazebench(args: list[str], log: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gazebench", *args]
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, timeout=timeout)
        f.write(proc.stdout[-4000:] + f"\n(exit {proc.returncode})\n")
    return proc


def bench(root: Path, model: str, precision: str, log: Path) -> dict[str, Any]:
    proc = gazebench(
        [
            "bench",
            "--root",
            str(root),
            "--model",
            model,
            "--source",
            "cache",
            "--steps",
            "20",
            "--warmup",
            "5",
            "--repeat",
            "2",
            "--json",
            "--set",
            "device=cuda",
            "--set",
            f"image_size={SIZE}",
            "--set",
            f"batch_size={BATCH}",
            "--set",
            f"precision={precision}",
            "--set",
            "num_workers=4",
        ],
        log,
    )
    if proc.returncode:
        return {"model": model, "precision": precision, "error": f"exit {proc.returncode}"}
    report = json.loads(proc.stdout)
    keep = ("data_samples_per_s", "model_samples_per_s", "full_samples_per_s", "full_over_model", "data_over_model")
    return {
        "model": model,
        "precision": precision,
        **{k: report.get(k) for k in keep},
        "channels_last": report.get("channels_last_in_effect"),
    }


def real_run(root: Path, model: str, sets: list[str], log: Path) -> dict[str, Any]:
    results = WORK / "results" / model
    args = [
        "run",
        "--root",
        str(root),
        "--model",
        model,
        "--epochs",
        "2",
        "--results",
        str(results),
        "--runs",
        str(WORK / "runs"),
        "--quiet",
        "--no-table",
        "--set",
        "device=cuda",
        "--set",
        "max_train_samples=640",
        "--set",
        "image_size=112",
        "--set",
        "batch_size=32",
    ]
    for s in sets:
        args += ["--set", s]
    start = time.perf_counter()
    proc = gazebench(args, log)
    row = {"model": model, "sets": sets, "exit": proc.returncode, "seconds": round(time.perf_counter() - start, 1)}
    found = sorted(results.rglob("*.json"))
    if found:
        record = json.loads(found[-1].read_text())
        row.update(
            error_deg=record["metrics"]["all"]["mean"],
            device=record["environment"].get("device"),
            train_samples_per_s=record["timings"]["train_samples_per_s"],
            loss=record["model"]["loss"],
        )
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/gpu")))
    args = p.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.txt"
    import torch

    report: dict[str, Any] = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "cpus": os.cpu_count(),
        "bare": [],
        "bench": [],
        "runs": [],
    }
    root = WORK / "synth"
    gazebench(["synth", "--out", str(root), "--preset", "small", "--workers", str(os.cpu_count())], log)
    gazebench(["prepare", "--root", str(root), "--size", str(SIZE), "--quiet"], log)
    for precision in ("fp32", "bf16"):
        report["bare"].append(bare_loop(precision))
    for model in ("static", "staticsclstmsym", "seqlstm"):
        for precision in ("fp32", "bf16", "fp16"):
            report["bench"].append(bench(root, model, precision, log))
            (out / "gpu.json").write_text(json.dumps(report, indent=2))
    report["runs"].append(real_run(root, "static", ["precision=bf16", "augment=resized_crop,flip"], log))
    report["runs"].append(real_run(root, "seqsclstmsym", ["precision=fp16"], log))
    report["runs"].append(real_run(root, "static", ["compile=true"], log))
    (out / "gpu.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
