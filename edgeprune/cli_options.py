"""CLI option groups and argument helpers shared by the commands in cli.py."""
from __future__ import annotations

import functools
import sys

import click

from .errors import EdgepruneError


def _user_errors(fn):
    """Print EdgepruneError as one line on stderr and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EdgepruneError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: finished work is saved; re-run the same command to resume.", err=True)
            sys.exit(130)

    return wrapper


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _model_args(items: tuple[str, ...]) -> dict:
    import json

    out = {}
    for item in items:
        if "=" not in item:
            raise EdgepruneError(f"--model-arg {item!r} is not KEY=VALUE.", "Example: --model-arg drop_rate=0.1")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


# ---------------------------------------------------------------- prune options
def prune_options(fn):
    opts = [
        click.option("--model", default="resnet18", show_default=True, help="Any timm model name."),
        click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Extra timm constructor argument (repeatable)."),
        click.option("--checkpoint", type=click.Path(dir_okay=False), help="Dense state_dict (.safetensors, .pt, .pth). Without it edgeprune trains the dense model."),
        click.option("--data", default="digits", show_default=True, help="'digits', a CIFAR-10/100 python directory, or an image-folder root."),
        click.option("--input-size", type=int, help="Input side in pixels (default: 32 for digits/CIFAR, 224 for folders)."),
        click.option("--signals", help="Comma list of magnitude,gradient,product for every granularity (default: "
                     "product for unstructured candidates, magnitude for structured ones, as measured in benchmarks/)."),
        click.option("--strategies", help="Comma list of strategy names (default: all ten)."),
        click.option("--epochs", type=int, help="Max fine-tuning epochs per candidate (early stopping on val, patience 3)."),
        click.option("--finetune-lr", type=click.FloatRange(min=0, min_open=True),
                     help="Fine-tuning learning rate of every candidate (default: the paper's per-family rate for "
                     "unstructured candidates, half the dense training rate for structured ones)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True,
                     help="Where dense training, Phase 1 and fine-tuning run; auto: CUDA, then MPS, then CPU."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Fine-tune candidates here, one at a time, or as Ray tasks in parallel (pip install 'edgeprune[ray]')."),
        click.option("--ray-address", help="With --executor ray: address of an existing Ray cluster (default: start a local Ray)."),
        click.option("--schedule", type=click.Choice(["oneshot", "iterative"]), default="oneshot", show_default=True,
                     help="Prune at once, or over --steps prune/fine-tune cycles within the same epochs."),
        click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True,
                     help="Cycles of --schedule iterative (channels: linear; weights: cubic ramp)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def granularity_option(default: str):
    return click.option("--granularity", type=click.Choice(["unstructured", "structured", "both"]), default=default,
                        show_default=True, help="Zero single weights, remove whole channels/heads "
                        "(a smaller dense network), or both.")


def _prune_config(model, model_args, checkpoint, data, input_size, signals, strategies, epochs, seed, device, executor,
                  ray_address, granularity="unstructured", schedule="oneshot", steps=3, finetune_lr=None):
    from .prune.config import PruneConfig

    cfg = PruneConfig(model=model, model_args=_model_args(model_args), checkpoint=checkpoint, data=data,
                      input_size=input_size, signals=_csv(signals), strategies=_csv(strategies), seed=seed,
                      device=device, executor=executor, ray_address=ray_address, granularity=granularity,
                      schedule=schedule, steps=steps, finetune_lr=finetune_lr)
    if epochs is not None:
        cfg.finetune_epochs = epochs
    return cfg


# ---------------------------------------------------------------- select/build options
def tolerance_options(fn):
    """Tie-rule tolerances (edgeprune.select.noise): differences up to these, or inside noise, decide nothing."""
    opts = [
        click.option("--accuracy-tolerance", type=float, help="Accuracy difference (fraction) up to which rows tie; "
                     "a difference inside the test split's 95% binomial interval always ties. Default 0."),
        click.option("--latency-tolerance", type=float, help="Relative latency difference up to which rows tie; "
                     "one inside the bench rounds' spread always ties. Default 0.06."),
        click.option("--size-tolerance", type=float, help="Relative size difference up to which rows tie. Default 0."),
        click.option("--ram-tolerance", type=float, help="Relative peak-RAM difference up to which rows tie; "
                     "one inside the bench rounds' spread always ties. Default 0.01."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _tolerances(kw: dict) -> dict:
    """Pop the tolerance options out of ``kw`` as {objective: value or None}."""
    return {"accuracy": kw.pop("accuracy_tolerance"), "latency_ms": kw.pop("latency_tolerance"),
            "size_mb": kw.pop("size_tolerance"), "peak_ram_mb": kw.pop("ram_tolerance")}
