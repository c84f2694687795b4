"""Make the peer references of the transformer checkpoints (GazeTR-Hybrid, UniGaze) with the authors' own code.

The originals are not part of gazebench (nor copied into it).  Take them from snapshots of the two
repositories, and UniGaze's pinned timm (0.3.2) in a throwaway folder that only this run sees:

    git -C <GazeTR clone> archive d7cf716c9b0f410761ace86aa30439eeca5361da | tar -x -C /tmp/src/gazetr
    git -C <UniGaze clone> archive 9c240fbe33f3d6146970a77b7c8fa06a7e60019e unigaze_easy | tar -x -C /tmp/src
    pip install --no-deps --target /tmp/timm032 timm==0.3.2
    PYTHONPATH=/tmp/timm032:$PWD python tools/transformer_references.py \\
        --gazetr /tmp/src/gazetr --unigaze /tmp/src/unigaze_easy/src --out tests/fixtures/reference

For each checkpoint it builds the authors' model class unchanged, lists its state dict (keys.tsv),
rebuilds the weights by the reference rule (tests/reference_rule.py, seed 0, scale.tsv and, for
GazeTR, BatchNorm statistics calibrated on the authors' model: overrides.npz), loads them the way the
authors' own code loads the released file, runs the authors' forward pass in eval mode on seeded
pictures fed through the authors' own preprocessing, and writes the pictures (uint8 RGB) and the
outputs.  UniGaze-L/16 and -H/14 get their key lists only,
whose shapes the tests hold against gazebench's models; their numerics are those of B/16 at
another size.

Not imported by gazebench or its tests; it never imports gazebench (the authors' timm 0.3.2
shadows the installed timm here).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference_rule import format_shape, reference_weights  # noqa: E402

GAZETR_COMMIT = "d7cf716c9b0f410761ace86aa30439eeca5361da"
UNIGAZE_COMMIT = "9c240fbe33f3d6146970a77b7c8fa06a7e60019e"
SIZE = 224
#: the output layer's factor (scale.tsv), so that the outputs lie within about +-1 rad
HEAD_SCALE = {"gazetr-hybrid-ethxgaze": ("feed.weight", 0.5), "unigaze-b16-joint": ("gaze_fc.weight", 0.5)}


def pictures(seed: int, count: int, size: int = SIZE) -> np.ndarray:
    """uint8 RGB pictures ``[count, size, size, 3]``: smooth colour fields (a few random blobs)
    plus pixel noise, so that every picture differs from the others in its large-scale layout."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        field = np.full((size, size, 3), rng.uniform(60, 190, 3))
        for _ in range(6):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.35)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            field += blob[..., None] * rng.uniform(-90, 90, 3)
        field += rng.normal(0, 12, field.shape)
        out[i] = np.clip(np.round(field), 0, 255).astype(np.uint8)
    return out


def write_keys(state: dict[str, torch.Tensor], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}\t{format_shape(tuple(v.shape))}\t{str(v.dtype).replace('torch.', '')}" for k, v in state.items()]
    (folder / "keys.tsv").write_text("\n".join(lines) + "\n")


def write_scale(name: str, folder: Path) -> None:
    key, factor = HEAD_SCALE[name]
    (folder / "scale.tsv").write_text(f"{key}\t{factor}\n")


def calibrate_batchnorm(model: torch.nn.Module, forward, batch) -> dict[str, np.ndarray]:
    """Every BatchNorm's running statistics := one calibration batch's (momentum None after a reset,
    one train-mode pass without gradients): the rule's own statistics normalise nothing and the
    activations would grow through the residual blocks until the outputs ignore the input."""
    norms = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    for m in norms.values():
        m.momentum = None
        m.reset_running_stats()
    model.train()
    with torch.no_grad():
        forward(batch)
    model.eval()
    return {
        f"{n}.{s}": getattr(m, s).detach().numpy().copy()
        for n, m in norms.items()
        for s in ("running_mean", "running_var", "num_batches_tracked")
    }


def gazetr(repo: Path, out: Path) -> dict:
    """GazeTR-Hybrid: model.Model() (model.py), the reader's input (reader/reader.py lines 105-107,
    122-123: cv2.imread's BGR array through ToTensor, no mean or std)."""
    from torchvision import transforms

    sys.path.insert(0, str(repo))
    import model as gazetr_model  # the repository's model.py, unchanged

    # model.py line 114 moves the position indices with .cuda(); the README (line 53) says to drop
    # it on a CPU: here Tensor.cuda is the identity while the model runs, the file is not edited
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    name = "gazetr-hybrid-ethxgaze"
    folder = out / name
    net = gazetr_model.Model()
    write_keys(net.state_dict(), folder)
    write_scale(name, folder)
    net.load_state_dict(reference_weights(folder), strict=True)

    to_tensor = transforms.Compose([transforms.ToTensor()])

    def authors_input(rgb: np.ndarray) -> torch.Tensor:
        return torch.stack([to_tensor(np.ascontiguousarray(p[..., ::-1])) for p in rgb])  # imread gives BGR

    overrides = calibrate_batchnorm(net, lambda x: net({"face": x}), authors_input(pictures(101, 16)))
    np.savez(folder / "overrides.npz", **overrides)
    net.load_state_dict(reference_weights(folder), strict=True)  # the rule with the overrides, as the test
    net.eval()
    pics = pictures(7, 3)
    x = authors_input(pics)
    with torch.no_grad():
        gaze = net({"face": x}).numpy()
        gaze64 = net.double()({"face": x.double()}).numpy()
    np.save(folder / "pictures.npy", pics)
    np.savez(folder / "expected.npz", yaw_pitch=gaze)
    return {name: {"yaw_pitch": gaze, "float64 - float32": float(np.abs(gaze64 - gaze).max())}}


def unigaze(src: Path, out: Path) -> dict:
    """UniGaze: unigaze.models.mae_gaze.MAE_Gaze (unigaze_easy), loaded by its own
    load_unigaze_weights from a safetensors file (loader.py lines 63-88); the dataset's input
    (unigaze/datasets/xgaze.py lines 109-117: BGR flipped to RGB, then image_transform.py lines
    59-66: ToPILImage, ToTensor, ImageNet mean and std)."""
    from safetensors.torch import save_file
    from torchvision import transforms

    sys.path.insert(0, str(src))
    import timm
    from unigaze.models.mae_gaze import MAE_Gaze  # first: its mae.py shims torch._six for timm 0.3.2

    assert timm.__version__ == "0.3.2", f"UniGaze pins timm 0.3.2 (pyproject.toml); this run has {timm.__version__}"
    results = {}
    sizes = (("vit_l_16", ["unigaze-l16-joint"]), ("vit_h_14", ["unigaze-h14-joint", "unigaze-h14-cross-x"]))
    for kind, names in sizes:
        state = MAE_Gaze(model_type=kind).state_dict()  # built on the CPU (timm 0.3.2 cannot on meta)
        for name in names:
            write_keys(state, out / name)
        del state
    name = "unigaze-b16-joint"
    folder = out / name
    net = MAE_Gaze(model_type="vit_b_16")
    write_keys(net.state_dict(), folder)
    write_scale(name, folder)
    packed = folder / "packed.safetensors"
    save_file({k: v.contiguous() for k, v in reference_weights(folder).items()}, str(packed))
    net.load_unigaze_weights(str(packed))
    packed.unlink()
    net.eval()
    transform = transforms.Compose(
        [
            transforms.ToPILImage(),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    pics = pictures(7, 2)
    x = torch.stack([transform(p) for p in pics])
    with torch.no_grad():
        gaze = net(x)["pred_gaze"].numpy()
        gaze64 = net.double()(x.double())["pred_gaze"].numpy()
    np.save(folder / "pictures.npy", pics)
    np.savez(folder / "expected.npz", pitch_yaw=gaze)
    results[name] = {"pitch_yaw": gaze, "float64 - float32": float(np.abs(gaze64 - gaze).max())}
    return results


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gazetr", type=Path, required=True, help=f"GazeTR snapshot at {GAZETR_COMMIT[:7]}")
    p.add_argument("--unigaze", type=Path, required=True, help=f"UniGaze's unigaze_easy/src at {UNIGAZE_COMMIT[:7]}")
    p.add_argument("--out", type=Path, default=Path("tests/fixtures/reference"))
    args = p.parse_args()
    torch.manual_seed(0)
    results = {**gazetr(args.gazetr, args.out), **unigaze(args.unigaze, args.out)}
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    for name, got in results.items():
        shown = {k: np.round(np.degrees(v), 3).tolist() if isinstance(v, np.ndarray) else v for k, v in got.items()}
        print(name, shown)
        for f in sorted((args.out / name).iterdir()):
            if f.suffix in (".npy", ".npz", ".tsv"):
                print(f"  {f.name} {sha256(f)}")


if __name__ == "__main__":
    main()
