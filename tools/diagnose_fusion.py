"""Why does a fusion model not learn at a small budget?  Per-step diagnostics of one quickstart unit.

    python tools/diagnose_fusion.py --model staticsclstmsym --steps 288 --every 12
    python tools/diagnose_fusion.py --model staticsclstmsym --set lr=1e-3
    python tools/diagnose_fusion.py --model seqlstm --steps 96
    python tools/diagnose_fusion.py --model staticsclstmsym --sigma-scale 1 --forget-bias 1   # experiments

Plans the unit the way ``gazebench run --benchmark quickstart`` does (the suite's recipe and
model options from benchmarks.yaml, then ``--set``; :func:`gazebench.plan.planning.plan_unit`), builds
it with :func:`gazebench.train.assemble.build_setup` (the real data pipeline, model and loss), and trains
it with the same per-epoch seeding as :func:`gazebench.train.fit.run_epoch` and the same optimiser,
but one step at a time, printing every ``--every`` steps:

- ``loss``, and for sin-cos models its two parts (``pinball`` and the unit-circle ``circle``
  penalty) and the share of (sample, component) pairs whose target lies *inside* the predicted
  interval ``[p - sigma, p + sigma]``: the pinball loss gives the prediction ``p`` a gradient only
  from pairs outside it (inside, the 0.1 and 0.9 quantile terms cancel), so ``inside`` near 1
  means the prediction is not being trained;
- the gradient norm of each part (``backbone.net``, ``backbone.proj``, ``fusion``, ``head``);
- the per-view features entering the fusion (RMS value and the RMS over samples of each
  feature's deviation from its batch mean: how much they vary between samples), the LSTM
  layer-0 gate pre-activations from its input alone (``W_ih x + b``: RMS, share with ``|.| > 3``,
  where a sigmoid / tanh saturates), the fused feature (RMS, share ``|.| > 0.9``, batch spread),
  the head's pre-activations (RMS, share of ``|tanh| > 0.99``);
- ``sigma`` (mean, min, max; radians for angle heads, sin-cos units for sin-cos heads) and the
  spread over the batch of the predicted outputs (``pred_sd``: near 0 = a constant prediction);
- every ``--val-every`` steps, the validation error (degrees) of the model as it is.

The ``--sigma-scale``, ``--forget-bias`` and ``--no-sigma-grad`` switches change the built model
for an experiment only; they are not model options.  Kept in the repository, not installed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any


def plan(model: str, seed: int, sets: dict[str, Any], results: str, runs: str):
    """The quickstart suite's unit for ``model`` (any registered model: the suite's recipe and
    shared model options apply; ``--set`` wins)."""
    from gazebench.plan import planning
    from gazebench.plan.suites import get_suite

    quick = get_suite("quickstart")
    labels = {m.label: m for m in quick.models}
    entry = labels.get(model)
    name = entry.name if entry else model
    kwargs = {
        **{k: v for k, v in quick.model_kwargs.items() if k in planning.model_option_keys(name)},
        **(entry.kwargs if entry else {}),
    }
    suite = planning.single_run_suite("synthgaze", [name], [seed])
    settings = {**quick.recipe, **kwargs, **sets}
    spec = planning.expand(suite, settings)[0]
    return planning.plan_unit(spec, results, runs)


def grad_norm(params) -> float:
    total = 0.0
    for p in params:
        if p.grad is not None:
            total += float(p.grad.detach().float().pow(2).sum())
    return math.sqrt(total)


def rms(x) -> float:
    return float(x.detach().float().pow(2).mean().sqrt())


def spread(x) -> float:
    """RMS over samples and features of the deviation from the batch mean (dim 0 = samples)."""
    x = x.detach().float().flatten(1)
    return float((x - x.mean(0, keepdim=True)).pow(2).mean().sqrt())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="staticsclstmsym", help="a quickstart label or any model name")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=288, help="training steps (quickstart: 6 epochs x 48)")
    p.add_argument("--every", type=int, default=12)
    p.add_argument("--val-every", type=int, default=48, help="0: never")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--sigma-scale", type=float, help="experiment: replace the head's sigma scale")
    p.add_argument(
        "--no-sigma-grad", action="store_true", help="experiment: freeze the sigma output at its initial value"
    )
    p.add_argument(
        "--forget-bias", type=float, help="experiment: set every LSTM forget-gate bias (b_ih + b_hh) to this value"
    )
    args = p.parse_args(argv)

    import tempfile

    import numpy as np
    import torch

    from gazebench.core.config import parse_sets
    from gazebench.core.geometry import vector_to_yawpitch
    from gazebench.datasets.loading import without_skipped
    from gazebench.losses import pinball, sincos_target, unit_circle_penalty
    from gazebench.models.fusion import LSTMFusion
    from gazebench.train.assemble import build_setup, make_optimizer
    from gazebench.train.augment import make_augment
    from gazebench.train.fit import predict_split

    tmp = tempfile.mkdtemp(prefix="gazebench-diagnose-")
    unit = plan(args.model, args.seed, parse_sets(args.sets), f"{tmp}/results", f"{tmp}/runs")
    setup = build_setup(unit)
    model, recipe = setup.model, setup.recipe
    head = model.head
    sincos = getattr(head, "kind", None) == "sincos"
    if args.sigma_scale is not None:
        head.sigma_scale = float(args.sigma_scale)
    lstm = model.fusion.lstm if isinstance(model.fusion, LSTMFusion) else None
    if args.forget_bias is not None and lstm is not None:
        with torch.no_grad():
            for name, b in lstm.named_parameters():
                if name.startswith("bias_"):
                    h = b.shape[0] // 4
                    b[h : 2 * h] = args.forget_bias / 2  # gates i, f, g, o; b_ih + b_hh = forget_bias
    if args.no_sigma_grad:
        head.fc.weight.register_hook(lambda g: torch.cat([g[:-1], torch.zeros_like(g[-1:])]))
        head.fc.bias.register_hook(lambda g: torch.cat([g[:-1], torch.zeros_like(g[-1:])]))

    parts = {
        "net": model.backbone.net.parameters,
        "proj": model.backbone.proj.parameters,
        "fusion": model.fusion.parameters,
        "head": head.parameters,
    }
    n_params = {k: sum(p.numel() for p in f()) for k, f in parts.items()}
    print(f"unit {unit.unit_id} model {unit.spec.model} {dict(unit.model_kwargs)}", file=sys.stderr)
    print(
        f"recipe lr={recipe.lr} batch={recipe.batch_size} epochs={recipe.epochs} "
        f"max_train_samples={recipe.max_train_samples} image_size={recipe.image_size} loss={setup.loss_name}; "
        f"parameters {n_params}; sigma scale {getattr(head, 'sigma_scale', None)}",
        file=sys.stderr,
    )

    seen: dict[str, Any] = {}
    hooks = [model.head.fc.register_forward_hook(lambda m, i, o: seen.update(head_in=i[0], head_out=o))]
    if not model.fusion.on_maps:
        hooks.append(model.fusion.register_forward_hook(lambda m, i, o: seen.update(per_view=i[0], fused=o)))

    optimizer = make_optimizer(model, recipe)
    loader = setup.loader("train", generator=torch.Generator().manual_seed(setup.seed))
    cols = [
        "step",
        "loss",
        "pinball",
        "circle",
        "inside",
        "g_net",
        "g_proj",
        "g_fusion",
        "g_head",
        "feat_rms",
        "feat_sd",
        "gate_rms",
        "gate_sat",
        "fused_rms",
        "fused_sat",
        "fused_sd",
        "o_rms",
        "tanh_sat",
        "sigma",
        "sig_min",
        "sig_max",
        "pred_sd",
        "val_deg",
    ]
    print(" ".join(f"{c:>8}" for c in cols))
    step, epoch, t0 = 0, 0, time.perf_counter()
    while step < args.steps:
        epoch += 1
        gen = torch.Generator().manual_seed(setup.seed * 100_003 + epoch)  # as gazebench.train.fit.run_epoch
        torch.manual_seed(setup.seed * 100_019 + epoch)
        loader.sampler.generator = gen
        aug = make_augment(recipe.augment, gen)
        setup.sets["train"].set_epoch(epoch)  # as gazebench.train.fit.run_epoch
        model.train()
        for batch in without_skipped(loader, setup.skipped["train"]):
            views = setup.ctx.views(batch)
            target = setup.ctx.target(batch)
            if aug is not None:
                views, target = aug.views_target(views, target)
            out = model(views)
            out = {k: v.float() for k, v in out.items()}
            loss = setup.loss_fn(out, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step += 1
            row: dict[str, Any] = {"step": step, "loss": float(loss.detach())}
            if step % args.every == 0 or step == 1:
                with torch.no_grad():
                    if sincos:
                        pred, tgt = out["sincos"], sincos_target(target)
                        row["pinball"] = float(pinball(pred, tgt, out["sigma"]))
                        row["circle"] = float(unit_circle_penalty(pred[:, :2]))
                    else:
                        pred = out["yaw_pitch"]
                        tgt = vector_to_yawpitch(target)
                    if "sigma" in out:
                        s = out["sigma"].unsqueeze(-1)
                        d = (tgt - pred).abs()
                        if not sincos:  # yaw wraps
                            d[:, 0] = torch.remainder(d[:, 0] + math.pi, 2 * math.pi) - math.pi
                            d = d.abs()
                        row["inside"] = float((d < s).float().mean())
                        row["sigma"] = float(out["sigma"].mean())
                        row["sig_min"], row["sig_max"] = float(out["sigma"].min()), float(out["sigma"].max())
                    row["pred_sd"] = float(pred.std(0).mean())
                    o = seen["head_out"]
                    k = 3 if sincos else 2
                    row["o_rms"] = rms(o[:, :k])
                    row["tanh_sat"] = float((torch.tanh(o[:, :k]).abs() > 0.99).float().mean())
                    fused = seen["head_in"]
                    row["fused_rms"], row["fused_sd"] = rms(fused), spread(fused)
                    row["fused_sat"] = float((fused.abs() > 0.9).float().mean())
                    if "per_view" in seen:
                        pv = seen["per_view"]
                        row["feat_rms"], row["feat_sd"] = rms(pv), spread(pv)
                        if lstm is not None:
                            gates = pv @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
                            row["gate_rms"] = rms(gates)
                            row["gate_sat"] = float((gates.abs() > 3).float().mean())
                for part, params in parts.items():
                    row[f"g_{part}"] = grad_norm(params())
            optimizer.step()
            if args.val_every and step % args.val_every == 0:
                val = predict_split(setup, "val", "val", progress=False)
                row["val_deg"] = float(np.mean(val["error"]))
                model.train()
            if len(row) > 2:
                print(" ".join(f"{row[c]:>8.4g}" if c in row else f"{'':>8}" for c in cols), flush=True)
            if step >= args.steps:
                break
    for h in hooks:
        h.remove()
    print(f"{step} steps in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
