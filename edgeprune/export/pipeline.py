"""Export orchestration: sources, caching by weight hash, one record per artifact id.

For every source (a run's candidates and ``dense``, or one checkpoint) and
every requested format: convert, write to a temp file, run it in its own
runtime against PyTorch, and only then rename it into place. A format that
fails records ``{"error": ...}``, removes any stale file and does not stop the
others; the call raises one line at the end. A format whose recorded source
hash, exporter schema and file hash still match is skipped.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..errors import EdgepruneError
from ..models import ModelSpec
from ..runio import RunDir, atomic_path, clean_stale_temps, gzip_size, read_json, sha256_file, write_json
from .failures import ExportFailed
from .formats import FORMATS, Format, get_format

#: bump when converters or encodings change what they write (invalidates caches)
EXPORT_SCHEMA = 1
N_PARITY = 64
DENSE_ID = "dense"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Source:
    """What one artifact id is exported from."""

    id: str
    weights: Path
    recorded: str  # weights path as written in <id>.json
    spec: ModelSpec
    input_shape: list[int]
    load: Callable[[], object]  # -> eval torch model with masks baked in
    structure: str | None = None  # channel plan of a structured candidate, as written in <id>.json


@dataclass
class ParityInputs:
    x: np.ndarray  # NCHW float32
    origin: str


def _exporter() -> dict:
    return {"edgeprune": __version__, "schema": EXPORT_SCHEMA}


def _is_current(prev: dict | None, source: Source, sha: str) -> bool:
    return bool(prev) and prev.get("source", {}).get("sha256") == sha and prev.get("exporter") == _exporter() \
        and prev.get("input_shape") == list(source.input_shape)


def _read_record(path: Path) -> dict | None:
    try:
        return read_json(path) if path.is_file() else None
    except ValueError:  # unreadable (hand-edited): treat as absent, it is rewritten
        return None


def _cached_entry(prev: dict | None, fmt: str, out_dir: Path) -> dict | None:
    entry = (prev or {}).get("formats", {}).get(fmt)
    if not entry or "error" in entry:
        return None
    path = out_dir / entry.get("file", "")
    if path.is_file() and sha256_file(path) == entry.get("sha256"):
        return entry
    return None


def export_source(source: Source, formats: list[str], out_dir: Path, inputs: ParityInputs) -> dict:
    """Export ``source`` to ``out_dir/<id>.<fmt>`` + ``<id>.json``; returns the record."""
    fmts = [get_format(f) for f in formats]
    json_path = out_dir / f"{source.id}.json"
    prev = _read_record(json_path)
    sha = sha256_file(source.weights)
    current = _is_current(prev, source, sha)
    entries: dict[str, dict] = {}
    if current:  # keep formats not asked for this time (their errors too: still true for these weights)
        entries = {k: v for k, v in prev.get("formats", {}).items()
                   if k not in formats and ("error" in v or _cached_entry(prev, k, out_dir))}
    else:  # artifacts of other weights must not stay listed or on disk
        for name in (prev or {}).get("formats", {}):
            if name not in formats and name in FORMATS:
                (out_dir / f"{source.id}{get_format(name).suffix}").unlink(missing_ok=True)
    todo = []
    for fmt in fmts:
        cached = _cached_entry(prev, fmt.name, out_dir) if current else None
        if cached:
            entries[fmt.name] = cached
            _log(f"export {source.id}.{fmt.name}: cached")
        else:
            todo.append(fmt)
    if current and not todo:
        return prev
    record = _export_formats(source, sha, todo, out_dir, inputs, entries)
    write_json(json_path, record)
    return record


def _export_formats(source: Source, sha: str, todo: list[Format], out_dir: Path, inputs: ParityInputs,
                    entries: dict[str, dict]) -> dict:
    import torch

    from .floor import size_report
    from .parity import reference

    model = source.load()
    sizes = size_report(model.state_dict())
    ref = reference(model, inputs.x)
    batch = source.input_shape[0]
    sample = torch.from_numpy(inputs.x[:batch]) if len(inputs.x) >= batch else torch.randn(source.input_shape)
    for fmt in todo:
        entries[fmt.name] = _export_one(source, fmt, model, sample, inputs, ref, sizes, out_dir)
    order = [f for f in FORMATS if f in entries]
    src = {"weights": source.recorded, "sha256": sha, **({"structure": source.structure} if source.structure else {})}
    return {"id": source.id, "source": src, "model": source.spec.to_json(),
            "input_shape": list(source.input_shape), **sizes, "exporter": _exporter(),
            "formats": {f: entries[f] for f in order}}


def _export_one(source: Source, fmt: Format, model, sample, inputs: ParityInputs, ref: np.ndarray,
                sizes: dict, out_dir: Path) -> dict:
    """One artifact: convert, write to temp, parity-check, rename. Errors become ``{"error": ...}``."""
    from .failures import describe
    from .parity import check

    final = out_dir / f"{source.id}{fmt.suffix}"
    label = f"{source.id}{fmt.suffix}"
    try:
        try:
            converted = fmt.convert(model, sample)
        except EdgepruneError:
            raise
        except ImportError as e:
            raise ExportFailed(f"{fmt.name}: {e.name or e} is not installed.",
                               "Install the host extra: pip install 'edgeprune[host]'") from e
        except Exception as e:
            raise describe(fmt, e, model, sample) from e
        with atomic_path(final) as tmp:
            tmp.write_bytes(converted.data)
            parity, io = check(tmp, fmt.suffix, fmt.layout, inputs.x, ref, inputs.origin, label)
    except EdgepruneError as e:
        final.unlink(missing_ok=True)  # a stale artifact of older weights must not survive a failure
        _log(f"export {source.id}.{fmt.name}: FAILED: {e}")
        return {"error": str(e)}
    nbytes = final.stat().st_size
    entry = {"file": final.name, "sha256": sha256_file(final), "bytes": nbytes, "gzip_bytes": gzip_size(final),
             "ratio_to_floor": nbytes / sizes["floor_bytes"] if sizes["floor_bytes"] else None,
             **converted.details, "layout": fmt.layout, **io, "encoding": converted.encoding, "parity": parity,
             "converter": fmt.versions()}
    _log(f"export {source.id}.{fmt.name}: {nbytes / 1e6:.2f} MB, {entry['ratio_to_floor']:.2f}x floor, "
         f"max |diff| {parity['max_abs_diff']:.1e} on {parity['n']} inputs")
    return entry


def _raise_failures(records: dict[str, dict], formats: list[str], where: str) -> None:
    """One line for the formats asked for in this call that failed."""
    asked = [(cid, f, r["formats"][f]) for cid, r in records.items() for f in formats if f in r["formats"]]
    errors = [(cid, f, e["error"]) for cid, f, e in asked if "error" in e]
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        rest = "The others are written; details" if len(errors) < len(asked) else "Details"
        raise ExportFailed(f"{len(errors)} of {len(asked)} artifacts failed; first: {errors[0][2]}{more}",
                           f"{rest} in {where}.")


# ---------------------------------------------------------------- run directory
def _run_sources(rd: RunDir, run: dict, candidates: list[str] | None) -> list[Source]:
    from ..models import build
    from .prepare import strip_masks

    spec = ModelSpec.from_json(run["model"])
    shape = [int(s) for s in run["data"]["input_shape"]]
    available = rd.candidate_ids() + ([DENSE_ID] if rd.dense_weights.is_file() else [])
    wanted = candidates or available
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise EdgepruneError(f"Unknown candidate {unknown[0]!r} in {rd.root}.",
                             f"Available: {', '.join(available) or 'none (run edgeprune prune first)'}.")

    def loader(path: Path, structure: Path | None) -> Callable[[], object]:
        def load():
            if structure is not None:  # channels removed: rebuild from the channel plan, never unpickle
                from ..prune.structured.plan import rebuild

                return rebuild(structure, path)
            model = build(spec, path)
            strip_masks(model)
            return model.eval()
        return load

    sources = []
    for cid in wanted:
        structure = None
        if cid == DENSE_ID:
            path = rd.dense_weights
        else:
            cand = read_json(rd.candidate_json(cid))
            path = rd.candidate_dir(cid) / cand.get("weights", "model.safetensors")
            if cand.get("structure"):
                structure = rd.candidate_dir(cid) / cand["structure"]
                if not structure.is_file():
                    raise EdgepruneError(f"Channel plan of {cid!r} is missing ({structure}).",
                                         "Re-run edgeprune prune on this run.")
        if not path.is_file():
            raise EdgepruneError(f"Weights of {cid!r} are missing ({path}).", "Re-run edgeprune prune on this run.")
        sources.append(Source(cid, path, path.relative_to(rd.root).as_posix(), spec, shape, loader(path, structure),
                              structure.relative_to(rd.root).as_posix() if structure else None))
    return sources


def _run_inputs(rd: RunDir) -> ParityInputs:
    if not rd.test_npz.is_file():
        raise EdgepruneError(f"{rd.test_npz} is missing (held-out inputs for the parity check).",
                             "Re-run edgeprune prune on this run.")
    with np.load(rd.test_npz) as data:
        x = np.ascontiguousarray(data["x"][:N_PARITY], dtype=np.float32)
    return ParityInputs(x, f"data/test.npz[:{len(x)}]")


def export_run(run, formats: list[str] | None = None, candidates: list[str] | None = None) -> dict[str, dict]:
    """Export every candidate of ``run`` (and ``dense``) to ``RUN/artifacts/``; returns records by id.

    Raises a one-line :class:`ExportFailed` after writing everything it could if
    any artifact failed.
    """
    rd = RunDir(run)
    if not rd.run_json.is_file():
        raise EdgepruneError(f"{rd.root} is not a run directory (no run.json).", "Run edgeprune prune --out RUN first.")
    formats = list(dict.fromkeys(formats or FORMATS))
    for f in formats:
        get_format(f)
    run_info = read_json(rd.run_json)
    sources = _run_sources(rd, run_info, candidates)
    inputs = _run_inputs(rd)
    clean_stale_temps(rd.artifacts_dir)
    records = {s.id: export_source(s, formats, rd.artifacts_dir, inputs) for s in sources}
    _raise_failures(records, formats, f"{rd.artifacts_dir}/<id>.json")
    return records


# ---------------------------------------------------------------- one checkpoint
def _check_shape(input_shape) -> list[int]:
    shape = [int(s) for s in input_shape]
    if len(shape) != 4 or min(shape) <= 0:
        raise EdgepruneError(f"--input-shape {','.join(map(str, shape))} is not N,C,H,W with positive sizes.",
                             "Example: --input-shape 1,3,32,32")
    return shape


def export_model(model: str, checkpoint, input_shape, out, formats: list[str] | None = None,
                 model_kwargs: dict | None = None) -> dict:
    """Export one timm ``model`` with ``checkpoint`` weights to ``out/<checkpoint stem>.*``.

    ``num_classes`` is read from the checkpoint's classifier; pruning masks saved
    by ``torch.nn.utils.prune`` or ``parametrize`` are baked in. Parity uses
    random normal inputs (no data set outside a run).
    """
    from ..models import check_model_name, create_model, infer_num_classes, load_weights, read_state_dict, resolve_spec
    from .prepare import fold_mask_keys, strip_masks

    shape = _check_shape(input_shape)
    formats = list(dict.fromkeys(formats or FORMATS))
    for f in formats:
        get_format(f)
    check_model_name(model)
    ck = Path(checkpoint)
    state = fold_mask_keys(read_state_dict(ck))
    kwargs = dict(model_kwargs or {})
    spec = resolve_spec(model, infer_num_classes(model, state, kwargs), shape[2], kwargs) if shape[2] == shape[3] \
        else ModelSpec(model, infer_num_classes(model, state, kwargs), kwargs)

    def load():
        net = create_model(spec)
        load_weights(net, state, source=str(ck))
        strip_masks(net)
        return net.eval()

    out_dir = Path(out)
    x = np.random.default_rng(0).standard_normal((16, *shape[1:])).astype(np.float32)
    clean_stale_temps(out_dir)
    source = Source(ck.stem, ck, str(ck.resolve()), spec, shape, load)
    record = export_source(source, formats, out_dir, ParityInputs(x, "random-normal(seed=0, n=16)"))
    _raise_failures({source.id: record}, formats, str(out_dir / f"{source.id}.json"))
    return record
