"""Export orchestration: sources, caching by weight hash, one record per artifact id.

For every source (a run's candidates and ``dense``, or one checkpoint) and
every requested format: convert, write to a temp file, run it in its own
runtime against PyTorch, and only then rename it into place. A format that
fails records ``{"error": ...}``, removes any stale file and does not stop the
others; the call raises one line at the end. A format whose recorded source
hash, exporter schema and file hash still match is skipped.

Precision: each format is written in fp32 and/or int8 (``precisions``). The int8
file is quantized from the same conversion (:mod:`.int8`), calibrated on
training images (:mod:`.calibration`) and checked against its fp32 twin
(:mod:`.agreement`); int8 entries are current while the calibration images and
the agreement floor are unchanged too. A rejected int8 artifact is a result,
not a failure: it is recorded (and cached) but does not fail the call.
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
from ..precision import FP32, INT8, artifact_name, check_precisions, record_entries
from ..runio import RunDir, atomic_path, clean_stale_temps, gzip_size, read_json, sha256_file, write_json
from .agreement import AGREEMENT_FLOOR
from .calibration import Calibration
from .failures import ExportFailed
from .formats import FORMATS, Converted, Format, get_format
from .int8 import AgreementInputs

#: bump when converters or encodings change what they write (invalidates caches)
EXPORT_SCHEMA = 2  # 2: ONNX delta4 encoding
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


@dataclass
class ParityInputs:
    x: np.ndarray  # NCHW float32
    origin: str
    agreement: AgreementInputs | None = None  # int8 vs fp32 twin (default: the parity inputs)

    def agreement_inputs(self) -> AgreementInputs:
        return self.agreement or AgreementInputs(self.x, None, self.origin)


@dataclass
class Int8Settings:
    """What the int8 artifacts of an export depend on besides the weights."""

    calibration: Calibration
    floor: float = AGREEMENT_FLOOR

    def record(self) -> dict:
        return {"calibration": self.calibration.record, "agreement_floor": self.floor}


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


def _int8_is_current(prev: dict | None, int8: Int8Settings | None) -> bool:
    """int8 entries also depend on the calibration images and the agreement floor."""
    rec = (prev or {}).get(INT8) or {}
    return int8 is not None and rec.get("calibration", {}).get("sha256") == int8.calibration.sha256 \
        and rec.get("agreement_floor") == int8.floor


def _cached_entry(entry: dict | None, out_dir: Path) -> dict | None:
    """``entry`` if its file is on disk unchanged (or it is an int8 rejection, a cached verdict)."""
    if not entry:
        return None
    if entry.get("rejected"):
        return entry
    if "error" in entry:
        return None
    path = out_dir / entry.get("file", "")
    if path.is_file() and sha256_file(path) == entry.get("sha256"):
        return entry
    return None


def export_source(source: Source, formats: list[str], out_dir: Path, inputs: ParityInputs,
                  precisions: list[str] | None = None, int8: Int8Settings | None = None) -> dict:
    """Export ``source`` to ``out_dir/<id>[.int8].<fmt>`` + ``<id>.json``; returns the record."""
    fmts = [get_format(f) for f in formats]
    precisions = check_precisions(precisions or [FP32])
    if INT8 in precisions and int8 is None:
        raise EdgepruneError("int8 export needs calibration images.", "Export a run directory, or pass --calib.")
    json_path = out_dir / f"{source.id}.json"
    prev = _read_record(json_path)
    sha = sha256_file(source.weights)
    current = _is_current(prev, source, sha)
    # int8 entries not asked for this time stay while their weights do (their calibration is checked when asked)
    valid = {FP32: current, INT8: current and (_int8_is_current(prev, int8) if INT8 in precisions else True)}
    asked = [(f.name, p) for f in fmts for p in precisions]
    old = record_entries(prev)
    entries: dict[tuple[str, str], dict] = {}
    for (fmt, prec), e in old.items():  # slots not asked for this time: keep while still true, else remove
        if (fmt, prec) in asked:
            continue
        if valid.get(prec) and ("error" in e or _cached_entry(e, out_dir)):
            entries[fmt, prec] = e
        elif not valid.get(prec) and fmt in FORMATS and prec in valid:  # artifacts of other weights or calibration
            (out_dir / artifact_name(source.id, fmt, prec)).unlink(missing_ok=True)
    todo = []
    for fmt, prec in asked:
        cached = _cached_entry(old.get((fmt, prec)), out_dir) if valid[prec] else None
        if cached:
            entries[fmt, prec] = cached
            _log(f"export {artifact_name(source.id, fmt, prec)}: cached")
        else:
            todo.append((fmt, prec))
    if not todo and entries == old:
        return prev
    header = int8.record() if int8 is not None and INT8 in precisions else \
        {k: v for k, v in ((prev or {}).get(INT8) or {}).items() if k in ("calibration", "agreement_floor")}
    record = _export_formats(source, sha, todo, out_dir, inputs, entries, int8, header)
    write_json(json_path, record)
    return record


def _export_formats(source: Source, sha: str, todo: list[tuple[str, str]], out_dir: Path, inputs: ParityInputs,
                    entries: dict[tuple[str, str], dict], int8: Int8Settings | None, int8_header: dict) -> dict:
    import torch

    from .floor import int8_floor_bytes, size_report
    from .parity import reference

    model = source.load()
    state = model.state_dict()
    sizes = size_report(state)
    floor8 = int8_floor_bytes(state) if any(p == INT8 for _, p in todo) or any(p == INT8 for _, p in entries) else None
    ref = reference(model, inputs.x) if todo else None
    batch = source.input_shape[0]
    sample = torch.from_numpy(inputs.x[:batch]) if len(inputs.x) >= batch else torch.randn(source.input_shape)
    for name in dict.fromkeys(f for f, _ in todo):
        fmt = get_format(name)
        precs = [p for f, p in todo if f == name]
        converted = _convert(source, fmt, model, sample)
        if FP32 in precs:
            entries[name, FP32] = _export_one(source, fmt, converted, inputs, ref, sizes, out_dir)
        if INT8 in precs:
            entries[name, INT8] = _export_int8(source, fmt, converted, entries.get((name, FP32)), inputs, ref,
                                               int8, floor8, out_dir)
    record = {"id": source.id, "source": {"weights": source.recorded, "sha256": sha},
              "model": source.spec.to_json(), "input_shape": list(source.input_shape), **sizes,
              "exporter": _exporter(),
              "formats": {f: entries[f, FP32] for f in FORMATS if (f, FP32) in entries}}
    if any(p == INT8 for _, p in entries):
        record[INT8] = {**int8_header, "floor_bytes": floor8,
                        "formats": {f: entries[f, INT8] for f in FORMATS if (f, INT8) in entries}}
    return record


def _convert(source: Source, fmt: Format, model, sample) -> Converted | ExportFailed:
    """The converter's output, or the one-line error it becomes (recorded by every precision asked)."""
    from .failures import describe

    try:
        return fmt.convert(model, sample)
    except EdgepruneError as e:
        return ExportFailed(e.problem, e.fix)
    except ImportError as e:
        return ExportFailed(f"{fmt.name}: {e.name or e} is not installed.",
                            "Install the host extra: pip install 'edgeprune[host]'")
    except Exception as e:
        return describe(fmt, e, model, sample)


def _export_one(source: Source, fmt: Format, converted: Converted | ExportFailed, inputs: ParityInputs,
                ref: np.ndarray, sizes: dict, out_dir: Path) -> dict:
    """One fp32 artifact: write to temp, parity-check, rename. Errors become ``{"error": ...}``."""
    from .parity import check

    final = out_dir / f"{source.id}{fmt.suffix}"
    label = f"{source.id}{fmt.suffix}"
    try:
        if isinstance(converted, ExportFailed):
            raise converted
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


def _export_int8(source: Source, fmt: Format, converted: Converted | ExportFailed, fp32_entry: dict | None,
                 inputs: ParityInputs, ref: np.ndarray, int8: Int8Settings, floor_bytes: int, out_dir: Path) -> dict:
    """One int8 artifact, compared with its fp32 twin (see :mod:`.int8`)."""
    from .int8 import export_int8, twin_file
    from .parity import check

    label = artifact_name(source.id, fmt.name, INT8)
    try:
        if isinstance(converted, ExportFailed):
            raise converted
        with twin_file(out_dir, fmt, fp32_entry, converted,
                       lambda p: check(p, fmt.suffix, fmt.layout, inputs.x, ref, inputs.origin, label)) as (twin, name):
            return export_int8(source.id, fmt, converted, twin, name, int8.calibration, inputs.agreement_inputs(),
                               int8.floor, floor_bytes, out_dir)
    except EdgepruneError as e:
        (out_dir / label).unlink(missing_ok=True)
        _log(f"export {label}: FAILED: {e}")
        return {"precision": INT8, "error": str(e)}


def _raise_failures(records: dict[str, dict], formats: list[str], precisions: list[str], where: str) -> None:
    """One line for the artifacts asked for in this call that failed (int8 rejections are results, not failures)."""
    asked = [(cid, f, e) for cid, r in records.items() for (f, p), e in record_entries(r).items()
             if f in formats and p in precisions]
    for cid, f, e in asked:
        if e.get("rejected"):
            _log(f"export: {e['error']}")
    errors = [(cid, f, e["error"]) for cid, f, e in asked if "error" in e and not e.get("rejected")]
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

    def loader(path: Path) -> Callable[[], object]:
        def load():
            model = build(spec, path)
            strip_masks(model)
            return model.eval()
        return load

    sources = []
    for cid in wanted:
        if cid == DENSE_ID:
            path = rd.dense_weights
        else:
            path = rd.candidate_dir(cid) / read_json(rd.candidate_json(cid)).get("weights", "model.safetensors")
        if not path.is_file():
            raise EdgepruneError(f"Weights of {cid!r} are missing ({path}).", "Re-run edgeprune prune on this run.")
        sources.append(Source(cid, path, path.relative_to(rd.root).as_posix(), spec, shape, loader(path)))
    return sources


def _run_inputs(rd: RunDir) -> ParityInputs:
    if not rd.test_npz.is_file():
        raise EdgepruneError(f"{rd.test_npz} is missing (held-out inputs for the parity check).",
                             "Re-run edgeprune prune on this run.")
    with np.load(rd.test_npz) as data:
        x_all = np.ascontiguousarray(data["x"], dtype=np.float32)
        y_all = np.asarray(data["y"]) if "y" in data else None
    x = x_all[:N_PARITY]
    agree = AgreementInputs(x_all, y_all, f"data/test.npz (all {len(x_all)})")
    return ParityInputs(x, f"data/test.npz[:{len(x)}]", agree)


def export_run(run, formats: list[str] | None = None, candidates: list[str] | None = None,
               precisions: list[str] | str | None = None, agreement_floor: float = AGREEMENT_FLOOR) -> dict[str, dict]:
    """Export every candidate of ``run`` (and ``dense``) to ``RUN/artifacts/``; returns records by id.

    ``precisions``: ``"fp32"``, ``"int8"`` or both (default). int8 calibrates on
    training images (``data/calib.npz``) and is checked against the fp32 twin on
    the test split; an artifact below ``agreement_floor`` is recorded as rejected.
    Raises a one-line :class:`ExportFailed` after writing everything it could if
    any artifact failed (a rejection is not a failure).
    """
    rd = RunDir(run)
    if not rd.run_json.is_file():
        raise EdgepruneError(f"{rd.root} is not a run directory (no run.json).", "Run edgeprune prune --out RUN first.")
    formats = list(dict.fromkeys(formats or FORMATS))
    for f in formats:
        get_format(f)
    precisions = check_precisions(precisions)
    run_info = read_json(rd.run_json)
    sources = _run_sources(rd, run_info, candidates)
    inputs = _run_inputs(rd)
    int8 = None
    if INT8 in precisions:
        from .calibration import run_calibration

        int8 = Int8Settings(run_calibration(rd, run_info), agreement_floor)
    clean_stale_temps(rd.artifacts_dir)
    records = {s.id: export_source(s, formats, rd.artifacts_dir, inputs, precisions, int8) for s in sources}
    _raise_failures(records, formats, precisions, f"{rd.artifacts_dir}/<id>.json")
    return records


# ---------------------------------------------------------------- one checkpoint
def _check_shape(input_shape) -> list[int]:
    shape = [int(s) for s in input_shape]
    if len(shape) != 4 or min(shape) <= 0:
        raise EdgepruneError(f"--input-shape {','.join(map(str, shape))} is not N,C,H,W with positive sizes.",
                             "Example: --input-shape 1,3,32,32")
    return shape


def export_model(model: str, checkpoint, input_shape, out, formats: list[str] | None = None,
                 model_kwargs: dict | None = None, precisions: list[str] | str | None = None,
                 calib: str | Path | None = None, agreement_floor: float = AGREEMENT_FLOOR) -> dict:
    """Export one timm ``model`` with ``checkpoint`` weights to ``out/<checkpoint stem>.*``.

    ``num_classes`` is read from the checkpoint's classifier; pruning masks saved
    by ``torch.nn.utils.prune`` or ``parametrize`` are baked in. Parity uses
    random normal inputs (no data set outside a run). int8 needs ``calib``, an
    ``.npz`` of preprocessed training images (``x``, NCHW); without it the default
    precision is fp32 only. Agreement is then measured on the random inputs.
    """
    from ..models import check_model_name, create_model, infer_num_classes, load_weights, read_state_dict, resolve_spec
    from .prepare import fold_mask_keys, strip_masks

    shape = _check_shape(input_shape)
    formats = list(dict.fromkeys(formats or FORMATS))
    for f in formats:
        get_format(f)
    precisions = check_precisions(precisions if precisions is not None or calib else FP32)
    int8 = None
    if INT8 in precisions:
        if calib is None:
            raise EdgepruneError("int8 outside a run needs calibration images (training data, never test).",
                                 "Pass --calib FILE.npz (x: preprocessed NCHW float32), or --precision fp32.")
        from .calibration import file_calibration

        int8 = Int8Settings(file_calibration(calib), agreement_floor)
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
    record = export_source(source, formats, out_dir, ParityInputs(x, "random-normal(seed=0, n=16)"), precisions, int8)
    _raise_failures({source.id: record}, formats, precisions, str(out_dir / f"{source.id}.json"))
    return record
