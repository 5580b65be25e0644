"""Export orchestration: sources, caching by weight hash, one record per artifact id.

For every source (a run's candidates and ``dense``, or one checkpoint) and
every requested format: convert, write to a temp file, run it in its own
runtime against PyTorch, and only then rename it into place. A format that
fails records ``{"error": ...}``, removes any stale file and does not stop the
others; the call raises one line at the end. A format whose recorded source
hash, exporter schema and file hash still match is skipped.

The record ``<id>.json`` is rewritten after each format, so a disk that fills
up on the second format leaves the first one recorded; if the record itself
cannot be written, the format's new file is removed again (never a file
without a record). A full or read-only disk stops the export with one line.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..errors import EdgepruneError, WriteFailed, write_error
from ..locks import clean_stage_temps, stage_lock
from ..models import ModelSpec
from ..runio import (RunDir, atomic_path, clean_stale_temps, gzip_size, read_json, read_json_object, sha256_file,
                     write_json)
from .failures import ExportFailed
from .formats import FORMATS, Format, get_format

#: bump when converters or encodings change what they write (invalidates caches)
EXPORT_SCHEMA = 2  # 2: RAM-limited ONNX encodings (ScatterElements, columns8), relative parity
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
    expected: str | None = None  # sha256 the run recorded for the weights (a mismatch means damaged)


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
        doc = read_json(path) if path.is_file() else None
    except ValueError:  # unreadable (hand-edited): treat as absent, it is rewritten
        return None
    return doc if isinstance(doc, dict) else None


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
    if source.expected and sha != source.expected:
        raise EdgepruneError(f"Weights of {source.id!r} ({source.recorded}) are damaged: their sha256 differs from "
                             "the run's record.", "Re-run 'edgeprune prune' with the same options on this run: it "
                                                  "rebuilds weights that do not match their record.")
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
    return _export_formats(source, sha, todo, out_dir, inputs, entries, json_path)


def _write_record(json_path: Path, record: dict, new_file: Path | None) -> None:
    """Write ``<id>.json``; if that fails, remove the format's new file so none stays unrecorded."""
    try:
        write_json(json_path, record)
    except WriteFailed:
        if new_file is not None:
            new_file.unlink(missing_ok=True)
        raise


def _export_formats(source: Source, sha: str, todo: list[Format], out_dir: Path, inputs: ParityInputs,
                    entries: dict[str, dict], json_path: Path) -> dict:
    import torch

    from .floor import size_report
    from .parity import reference

    model = source.load()
    sizes = size_report(model.state_dict())
    ref = reference(model, inputs.x)
    batch = source.input_shape[0]
    sample = torch.from_numpy(inputs.x[:batch]) if len(inputs.x) >= batch else torch.randn(source.input_shape)
    base = {"id": source.id, "source": {"weights": source.recorded, "sha256": sha}, "model": source.spec.to_json(),
            "input_shape": list(source.input_shape), **sizes, "exporter": _exporter()}
    record = dict(base, formats={})
    for fmt in todo:
        entries[fmt.name] = _export_one(source, fmt, model, sample, inputs, ref, sizes, out_dir)
        record = dict(base, formats={f: entries[f] for f in FORMATS if f in entries})
        written = None if "error" in entries[fmt.name] else out_dir / entries[fmt.name]["file"]
        _write_record(json_path, record, written)
    return record


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
        except OSError as e:  # a converter's scratch space is full or read-only: not a property of the model
            disk = write_error(e, e.filename or "the converter's temporary files")
            if disk is None:
                raise describe(fmt, e, model, sample) from e
            raise disk from None
        except ImportError as e:
            raise ExportFailed(f"{fmt.name}: {e.name or e} is not installed.",
                               "Install the host extra: pip install 'edgeprune[host]'") from e
        except Exception as e:
            raise describe(fmt, e, model, sample) from e
        with atomic_path(final) as tmp:
            tmp.write_bytes(converted.data)
            parity, io = check(tmp, fmt.suffix, fmt.layout, inputs.x, ref, inputs.origin, label)
    except WriteFailed:
        raise  # the disk, not the model: stop, keep what is on disk
    except EdgepruneError as e:
        final.unlink(missing_ok=True)  # a stale artifact of older weights must not survive a failure
        _log(f"export {source.id}.{fmt.name}: FAILED: {e}")
        return {"error": str(e)}
    nbytes = final.stat().st_size
    entry = {"file": final.name, "sha256": sha256_file(final), "bytes": nbytes, "gzip_bytes": gzip_size(final),
             "ratio_to_floor": nbytes / sizes["floor_bytes"] if sizes["floor_bytes"] else None,
             **converted.details, "layout": fmt.layout, **io, "encoding": converted.encoding, "parity": parity,
             "converter": fmt.versions()}
    ram = entry.get("ram")
    _log(f"export {source.id}.{fmt.name}: {nbytes / 1e6:.2f} MB, {entry['ratio_to_floor']:.2f}x floor, "
         f"max |diff| {parity['max_abs_diff']:.1e} on {parity['n']} inputs"
         + (f", peak RAM {ram['ratio']:.2f}x dense" if ram and ram.get("ratio") is not None else ""))
    return entry


#: how to leave failed formats out, on the command the user ran ({ok}: the formats that worked)
SKIP_HINT = "pass --formats {ok}"


def _raise_failures(records: dict[str, dict], formats: list[str], where: str, skip_hint: str = SKIP_HINT) -> None:
    """One line for the formats asked for in this call that failed."""
    asked = [(cid, f, r["formats"][f]) for cid, r in records.items() for f in formats if f in r["formats"]]
    errors = [(cid, f, e["error"]) for cid, f, e in asked if "error" in e]
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        rest = "The others are written; details" if len(errors) < len(asked) else "Details"
        failed = {f for _, f, _ in errors}
        ok = [f for f in formats if f not in failed]
        skip = f" To leave {', '.join(sorted(failed))} out, {skip_hint.replace('{ok}', ','.join(ok))}." if ok else ""
        raise ExportFailed(f"{len(errors)} of {len(asked)} artifacts failed; first: {errors[0][2]}{more}",
                           f"{rest} in {where}.{skip}")


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

    def loader(path: Path) -> Callable[[], object]:
        def load():
            model = build(spec, path)
            strip_masks(model)
            return model.eval()
        return load

    sources = []
    for cid in wanted:
        if cid == DENSE_ID:
            path, expected = rd.dense_weights, (run.get("dense") or {}).get("sha256")
        else:
            cand = read_json_object(rd.candidate_json(cid), "Re-run 'edgeprune prune' with the same options.")
            path, expected = rd.candidate_dir(cid) / str(cand.get("weights", "model.safetensors")), cand.get("sha256")
        if not path.is_file():
            raise EdgepruneError(f"Weights of {cid!r} are missing ({path}).", "Re-run edgeprune prune on this run.")
        sources.append(Source(cid, path, path.relative_to(rd.root).as_posix(), spec, shape, loader(path), expected))
    return sources


def _run_inputs(rd: RunDir) -> ParityInputs:
    if not rd.test_npz.is_file():
        raise EdgepruneError(f"{rd.test_npz} is missing (held-out inputs for the parity check).",
                             "Re-run edgeprune prune on this run.")
    with np.load(rd.test_npz) as data:
        x = np.ascontiguousarray(data["x"][:N_PARITY], dtype=np.float32)
    return ParityInputs(x, f"data/test.npz[:{len(x)}]")


def export_run(run, formats: list[str] | None = None, candidates: list[str] | None = None,
               skip_hint: str = SKIP_HINT) -> dict[str, dict]:
    """Export every candidate of ``run`` (and ``dense``) to ``RUN/artifacts/``; returns records by id.

    Raises a one-line :class:`ExportFailed` after writing everything it could if
    any artifact failed; its advice ends with ``skip_hint`` (how the calling
    command leaves a format out; ``{ok}`` = the formats that worked).
    """
    rd = RunDir(run)
    if not rd.run_json.is_file():
        raise EdgepruneError(f"{rd.root} is not a run directory (no run.json).", "Run edgeprune prune --out RUN first.")
    formats = list(dict.fromkeys(formats or FORMATS))
    for f in formats:
        get_format(f)
    run_info = read_json_object(rd.run_json, "Re-run edgeprune prune on this run.")
    sources = _run_sources(rd, run_info, candidates)
    inputs = _run_inputs(rd)
    with stage_lock(rd.root, "export"):
        clean_stage_temps(rd.root, "export")
        records = {s.id: export_source(s, formats, rd.artifacts_dir, inputs) for s in sources}
    _raise_failures(records, formats, f"{rd.artifacts_dir}/<id>.json", skip_hint)
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
    from ..models import (check_model_name, create_model, infer_num_classes, load_weights, read_state_dict,
                          resolve_spec, restated_num_classes)
    from .prepare import fold_mask_keys, strip_masks

    shape = _check_shape(input_shape)
    formats = list(dict.fromkeys(formats or FORMATS))
    for f in formats:
        get_format(f)
    check_model_name(model)
    ck = Path(checkpoint)
    state = fold_mask_keys(read_state_dict(ck))
    kwargs = {k: v for k, v in (model_kwargs or {}).items() if k != "num_classes"}  # read from the checkpoint
    n = infer_num_classes(model, state, kwargs)
    restated_num_classes(model_kwargs, n, f"the checkpoint {ck.name}")  # a restated value must agree
    spec = resolve_spec(model, n, shape[2], kwargs) if shape[2] == shape[3] else ModelSpec(model, n, kwargs)

    def load():
        net = create_model(spec)
        load_weights(net, state, source=str(ck))
        strip_masks(net)
        return net.eval()

    out_dir = Path(out)
    x = np.random.default_rng(0).standard_normal((16, *shape[1:])).astype(np.float32)
    # not a run directory: only temps of the files this command writes (edgeprune's marker, exact names)
    clean_stale_temps(out_dir, tuple(f"{ck.stem}{s}" for s in [".json", *(get_format(f).suffix for f in formats)]))
    source = Source(ck.stem, ck, str(ck.resolve()), spec, shape, load)
    record = export_source(source, formats, out_dir, ParityInputs(x, "random-normal(seed=0, n=16)"))
    _raise_failures({source.id: record}, formats, str(out_dir / f"{source.id}.json"))
    return record
