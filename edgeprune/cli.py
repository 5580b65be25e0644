"""Command line: a thin layer over the stage APIs. Every command is scriptable in Python."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import __version__
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeprune")
def main() -> None:
    """Prune a PyTorch vision model and ship it to a Raspberry Pi or Jetson."""


# ---------------------------------------------------------------- prune
def prune_options(fn):
    opts = [
        click.option("--model", default="resnet18", show_default=True, help="Any timm model name."),
        click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Extra timm constructor argument (repeatable)."),
        click.option("--checkpoint", type=click.Path(dir_okay=False), help="Dense state_dict (.safetensors, .pt, .pth). Without it edgeprune trains the dense model."),
        click.option("--data", default="digits", show_default=True, help="'digits', a CIFAR-10/100 python directory, or an image-folder root."),
        click.option("--input-size", type=int, help="Input side in pixels (default: 32 for digits/CIFAR, 224 for folders)."),
        click.option("--signals", default="product", show_default=True, help="Comma list of magnitude,gradient,product."),
        click.option("--strategies", help="Comma list of strategy names (default: all ten)."),
        click.option("--epochs", type=int, help="Max fine-tuning epochs per candidate (early stopping on val, patience 3)."),
        click.option("--seed", type=int, default=0, show_default=True),
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


def _prune_config(model, model_args, checkpoint, data, input_size, signals, strategies, epochs, seed,
                  granularity="unstructured", schedule="oneshot", steps=3):
    from .prune.config import PruneConfig

    cfg = PruneConfig(model=model, model_args=_model_args(model_args), checkpoint=checkpoint, data=data,
                      input_size=input_size, signals=_csv(signals), strategies=_csv(strategies), seed=seed,
                      granularity=granularity, schedule=schedule, steps=steps)
    if epochs is not None:
        cfg.finetune_epochs = epochs
    return cfg


@main.command()
@prune_options
@granularity_option("unstructured")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory (created; re-run to resume).")
@_user_errors
def prune(out, **kw):
    """Mix-and-Match pruning: ranges, ten strategies per signal, masked fine-tuning."""
    from .prune import run_prune

    run_prune(_prune_config(**kw), out)


# ---------------------------------------------------------------- export
@main.command()
@click.argument("run", required=False, type=click.Path(file_okay=False))
@click.option("--formats", default="onnx,tflite", show_default=True)
@click.option("--candidates", help="Comma list of candidate ids (default: all, plus dense).")
@click.option("--model", help="Export one model outside a run: timm name.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="With --model: the state_dict to export.")
@click.option("--input-shape", help="With --model: e.g. 1,3,32,32.")
@click.option("--out", type=click.Path(file_okay=False), help="With --model: output directory.")
@_user_errors
def export(run, formats, candidates, model, model_args, checkpoint, input_shape, out):
    """Strip masks and write sparse-aware ONNX and TFLite artifacts, parity-checked."""
    from . import export as ex

    fmts = _csv(formats) or ["onnx", "tflite"]
    if model:
        if not (checkpoint and input_shape and out):
            raise EdgepruneError("--model needs --checkpoint, --input-shape and --out.", "Example: edgeprune export --model resnet18 --checkpoint ck.safetensors --input-shape 1,3,32,32 --out DIR")
        shape = [int(s) for s in input_shape.split(",")]
        ex.export_model(model, checkpoint, shape, out, formats=fmts, model_kwargs=_model_args(model_args))
    elif run:
        ex.export_run(run, formats=fmts, candidates=_csv(candidates))
    else:
        raise EdgepruneError("Nothing to export.", "Give a RUN directory, or --model with --checkpoint.")


# ---------------------------------------------------------------- targets
@main.group(invoke_without_command=True)
@click.pass_context
@_user_errors
def targets(ctx):
    """List device profiles (targets/*.toml)."""
    if ctx.invoked_subcommand is None:
        from .targets import format_table, list_targets

        click.echo(format_table(list_targets()))


@targets.command("show")
@click.argument("name")
@_user_errors
def targets_show(name):
    """Print one profile (a name or a path to a .toml)."""
    from .targets import format_target, load_target

    click.echo(format_target(load_target(name)))


# ---------------------------------------------------------------- bench
@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--target", help="Profile name or path to a .toml.")
@click.option("--on-device", is_flag=True, default=None, help="All figures measured here (this machine is the target).")
@click.option("--import", "import_file", type=click.Path(dir_okay=False), help="Merge a bench JSON made on the device into RUN.")
@click.option("--eval", "eval_npz", type=click.Path(dir_okay=False), help="With artifact files: an .npz with x, y for accuracy.")
@click.option("--out", type=click.Path(dir_okay=False), help="With artifact files: where to write the JSON.")
@_user_errors
def bench(paths, target, on_device, import_file, eval_npz, out):
    """Size, latency, peak RAM and accuracy of artifacts through their runtimes (torch-free)."""
    from . import bench as b

    if import_file:
        if len(paths) != 1:
            raise EdgepruneError("--import needs exactly one RUN directory.", "Example: edgeprune bench RUN --import device.json")
        b.import_bench(paths[0], import_file)
        return
    if not target:
        raise EdgepruneError("--target is required.", "See 'edgeprune targets' for names.")
    if len(paths) == 1 and Path(paths[0]).is_dir():
        b.bench_run(paths[0], target, on_device=on_device)
    elif paths:
        b.bench_files(list(paths), target, on_device=on_device, eval_npz=eval_npz, out=out)
    else:
        raise EdgepruneError("Nothing to bench.", "Give a RUN directory or artifact files.")


# ---------------------------------------------------------------- select / ship / verify
@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--target", required=True)
@click.option("--max-size-mb", type=float)
@click.option("--max-ram-mb", type=float)
@click.option("--max-latency-ms", type=float)
@click.option("--min-accuracy", type=float)
@click.option("--format", "fmt", type=click.Choice(["onnx", "tflite"]))
@_user_errors
def select(run, target, max_size_mb, max_ram_mb, max_latency_ms, min_accuracy, fmt):
    """Pick the Pareto-optimal candidate that fits the device budget."""
    from .select import select as do_select, summary

    doc = do_select(run, target, max_size_mb=max_size_mb, max_ram_mb=max_ram_mb,
                    max_latency_ms=max_latency_ms, min_accuracy=min_accuracy, fmt=fmt)
    click.echo(summary(doc))


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--target", required=True)
@_user_errors
def ship(run, target):
    """Write the bundle for the selected candidate: model, manifest, eval set, report."""
    from .ship import ship as do_ship

    click.echo(f"bundle: {do_ship(run, target)}")


@main.command()
@click.argument("bundle", type=click.Path(file_okay=False, exists=True))
@_user_errors
def verify(bundle):
    """Check a ship bundle: sha256, and eval.npz accuracy through the runtime (torch-free)."""
    from .ship.verify import verify as do_verify

    ok = do_verify(bundle)
    sys.exit(0 if ok else 1)


# ---------------------------------------------------------------- build
@main.command()
@click.option("--target", required=True, help="Profile name or path to a .toml.")
@prune_options
@granularity_option("both")
@click.option("--out", default="runs/default", show_default=True, type=click.Path(file_okay=False))
@click.option("--max-size-mb", type=float)
@click.option("--max-ram-mb", type=float)
@click.option("--max-latency-ms", type=float)
@click.option("--min-accuracy", type=float)
@_user_errors
def build(target, out, max_size_mb, max_ram_mb, max_latency_ms, min_accuracy, **kw):
    """prune -> export -> bench -> select -> ship in one resumable command."""
    from .build import run_build

    run_build(_prune_config(**kw), out, target, budgets=dict(max_size_mb=max_size_mb, max_ram_mb=max_ram_mb,
              max_latency_ms=max_latency_ms, min_accuracy=min_accuracy))


if __name__ == "__main__":  # pragma: no cover
    main()
