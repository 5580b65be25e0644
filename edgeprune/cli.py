"""Command line: a thin layer over the stage APIs. Every command is scriptable in Python."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .cli_options import (_csv, _model_args, _prune_config, _tolerances, _user_errors, granularity_option,
                          prune_options, tolerance_options)
from .errors import EdgepruneError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeprune")
def main() -> None:
    """Prune a PyTorch vision model and ship it to a Raspberry Pi or Jetson."""


# ---------------------------------------------------------------- prune
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
@click.option("--precision", type=click.Choice(["fp32", "int8", "both"]),
              help="Weights precision of the artifacts [default: both in a run; with --model, both if --calib "
                   "is given, else fp32]. int8 calibrates on training images and must agree with its fp32 twin.")
@click.option("--calib", type=click.Path(dir_okay=False), help="With --model and int8: .npz with x = preprocessed "
              "NCHW training images (never test).")
@click.option("--candidates", help="Comma list of candidate ids (default: all, plus dense).")
@click.option("--model", help="Export one model outside a run: timm name.")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="With --model: the state_dict to export.")
@click.option("--input-shape", help="With --model: e.g. 1,3,32,32.")
@click.option("--out", type=click.Path(file_okay=False), help="With --model: output directory.")
@_user_errors
def export(run, formats, precision, calib, candidates, model, model_args, checkpoint, input_shape, out):
    """Strip masks and write sparse-aware ONNX and TFLite artifacts, parity-checked."""
    from . import export as ex

    fmts = _csv(formats) or ["onnx", "tflite"]
    if model:
        if not (checkpoint and input_shape and out):
            raise EdgepruneError("--model needs --checkpoint, --input-shape and --out.", "Example: edgeprune export --model resnet18 --checkpoint ck.safetensors --input-shape 1,3,32,32 --out DIR")
        shape = [int(s) for s in input_shape.split(",")]
        ex.export_model(model, checkpoint, shape, out, formats=fmts, model_kwargs=_model_args(model_args),
                        precisions=precision, calib=calib)
    elif run:
        if calib:
            raise EdgepruneError("--calib is for --model exports.", "A run calibrates on its own training split.")
        ex.export_run(run, formats=fmts, candidates=_csv(candidates), precisions=precision)
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
@click.option("--import", "import_files", multiple=True, type=click.Path(dir_okay=False),
              help="Merge device measurements into RUN: bench JSONs made on the device, trtexec logs (with their "
                   "--exportTimes JSON) or TFLite benchmark_model logs; further files may follow RUN.")
@click.option("--eval", "eval_npz", type=click.Path(dir_okay=False), help="With artifact files: an .npz with x, y for accuracy.")
@click.option("--out", type=click.Path(dir_okay=False), help="With artifact files: where to write the JSON.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: bench RUN on the Ray node that declares the resource named after --target (measured rows).")
@click.option("--ray-address", help="With --executor ray: address of the Ray cluster the board joined.")
@_user_errors
def bench(paths, target, on_device, import_files, eval_npz, out, executor, ray_address):
    """Size, latency, peak RAM and accuracy of artifacts through their runtimes (torch-free)."""
    from . import bench as b

    if executor == "ray" or ray_address:
        if executor != "ray":
            raise EdgepruneError("--ray-address is only used with --executor ray.", "Add --executor ray.")
        if not target or len(paths) != 1 or not Path(paths[0]).is_dir() or import_files:
            raise EdgepruneError("--executor ray benches one RUN directory for one --target.",
                                 "Example: edgeprune bench RUN --target raspberry-pi-4 --executor ray")
        from .bench.remote import bench_run_ray

        bench_run_ray(paths[0], target, ray_address)
        return

    if import_files:
        if not paths or not Path(paths[0]).is_dir():
            raise EdgepruneError("--import needs the RUN directory first.", "Example: edgeprune bench RUN --import device.json")
        b.import_device_files(paths[0], [*import_files, *paths[1:]], target=target)
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
@tolerance_options
@_user_errors
def select(run, target, max_size_mb, max_ram_mb, max_latency_ms, min_accuracy, fmt, **kw):
    """Pick the Pareto-optimal candidate that fits the device budget."""
    from .select import select as do_select, summary

    doc = do_select(run, target, max_size_mb=max_size_mb, max_ram_mb=max_ram_mb,
                    max_latency_ms=max_latency_ms, min_accuracy=min_accuracy, fmt=fmt, tolerances=_tolerances(kw))
    click.echo(summary(doc))


@main.command()
@click.argument("run", type=click.Path(file_okay=False, exists=True))
@click.option("--target", required=True)
@click.option("--sign-key", type=click.Path(dir_okay=False), help="ed25519 private key (PEM): sign the manifest.")
@_user_errors
def ship(run, target, sign_key):
    """Write the bundle for the selected candidate: model, manifest, eval set, report."""
    from .ship import ship as do_ship

    click.echo(f"bundle: {do_ship(run, target, sign_key=sign_key)}")


@main.command()
@click.argument("bundle", type=click.Path(file_okay=False, exists=True))
@click.option("--public-key", type=click.Path(dir_okay=False), help="ed25519 public key (PEM): check the signature.")
@_user_errors
def verify(bundle, public_key):
    """Check a ship bundle: contents, signature, sha256, and eval.npz accuracy through the runtime (torch-free)."""
    from .ship.verify import verify as do_verify

    ok = do_verify(bundle, public_key=public_key)
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("out", type=click.Path(dir_okay=False))
@_user_errors
def keygen(out):
    """Write a new ed25519 key pair for ship --sign-key: OUT (private, keep it secret) and OUT.pub."""
    from .ship.signing import fingerprint, keygen as do_keygen, load_public_key

    priv, pub = do_keygen(out)
    click.echo(f"private key: {priv} (keep it off the device)")
    click.echo(f"public key:  {pub} (key {fingerprint(load_public_key(pub))})")


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
@tolerance_options
@click.option("--formats", help="Comma list of formats to export and bench (default: the one the target ships, "
              "its preferred format; e.g. raspberry-pi-4: tflite, jetson-nano: onnx).")
@click.option("--precision", type=click.Choice(["fp32", "int8", "both"]), default="both", show_default=True,
              help="Export fp32 and/or int8 artifacts of those formats; every one is benched and competes in select.")
@click.option("--screen", is_flag=True, help="Leave out unstructured candidates dominated before export (sparser "
              "ones at no lower accuracy): faster, but peak RAM and int8 file size do not always follow sparsity "
              "(benchmarks/screen.json); listed in RUN/screen.json and selection.json.")
@_user_errors
def build(target, out, max_size_mb, max_ram_mb, max_latency_ms, min_accuracy, formats, precision, screen, **kw):
    """prune -> export -> bench -> select -> ship in one resumable command."""
    from .build import run_build

    tolerances = _tolerances(kw)
    run_build(_prune_config(**kw), out, target, budgets=dict(max_size_mb=max_size_mb, max_ram_mb=max_ram_mb,
              max_latency_ms=max_latency_ms, min_accuracy=min_accuracy), tolerances=tolerances,
              formats=_csv(formats), precision=precision, screen=screen)


if __name__ == "__main__":  # pragma: no cover
    main()
