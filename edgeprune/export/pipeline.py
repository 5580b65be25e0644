"""Export orchestration: for every source and requested (format, precision), convert, check, record.

For every source (a run's candidates and ``dense``, or one checkpoint) and
every requested format: convert, write to a temp file, run it in its own
runtime against PyTorch, and only then rename it into place. A format that
fails records ``{"error": ...}``, removes any stale file and does not stop the
others; the call raises one line at the end. An artifact whose record is still
current (:mod:`.records`) is skipped.

Precision: each format is written in fp32 and/or int8 (``precisions``). The int8
file is quantized from the same conversion (:mod:`.int8`), calibrated on
training images (:mod:`.calibration`) and checked against its fp32 twin
(:mod:`.agreement`). A rejected int8 artifact is a result, not a failure: it is
recorded (and cached) but does not fail the call.

The record ``<id>.json`` is rewritten after each artifact, so a disk that fills
up on the second one leaves the first recorded; if the record itself cannot be
written, the artifact's new file is removed again (never a file without a
record). A full or read-only disk stops the export with one line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..log import info
from ..errors import EdgepruneError, WriteFailed, write_error
from ..locks import clean_stage_temps, stage_lock
from ..models import ModelSpec
from ..precision import FP32, INT8, artifact_name, check_precisions, record_entries
from ..records import RunRecord
from ..runio import RunDir, atomic_path, clean_stale_temps, gzip_size, sha256_file
from .agreement import AGREEMENT_FLOOR
from .failures import ExportFailed
from .formats import FORMATS, Converted, Format, get_format
from .int8 import Int8Settings
from .records import (EXPORT_SCHEMA, SKIP_HINT, assemble, cached_entry, exporter, int8_is_current, is_current,
                      read_record, write_record)
from .records import raise_failures as _raise_failures
from .sources import (DENSE_ID, N_PARITY, ParityInputs, Source, check_shape, check_weights, run_inputs,
                      run_sources)

__all__ = ["DENSE_ID", "EXPORT_SCHEMA", "Int8Settings", "N_PARITY", "ParityInputs", "SKIP_HINT", "Source",
           "export_model", "export_run", "export_source"]


def _log(msg: str) -> None:
    info(msg)


def export_source(source: Source, formats: list[str], out_dir: Path, inputs: ParityInputs,
                  precisions: list[str] | None = None, int8: Int8Settings | None = None) -> dict:
    """Export ``source`` to ``out_dir/<id>[.int8].<fmt>`` + ``<id>.json``; returns the record."""
    fmts = [get_format(f) for f in formats]
    precisions = check_precisions(precisions or [FP32])
    if INT8 in precisions and int8 is None:
        raise EdgepruneError("int8 export needs calibration images.", "Export a run directory, or pass --calib.")
    json_path = out_dir / f"{source.id}.json"
    prev = read_record(json_path)
    sha = sha256_file(source.weights)
    check_weights(source, sha)
    current = is_current(prev, source.input_shape, sha)
    # int8 entries not asked for this time stay while their weights do (their calibration is checked when asked)
    valid = {FP32: current, INT8: current and (int8_is_current(prev, int8) if INT8 in precisions else True)}
    asked = [(f.name, p) for f in fmts for p in precisions]
    old = record_entries(prev)
    entries: dict[tuple[str, str], dict] = {}
    for (fmt, prec), e in old.items():  # slots not asked for this time: keep while still true, else remove
        if (fmt, prec) in asked:
            continue
        if valid.get(prec) and ("error" in e or cached_entry(e, out_dir)):
            entries[fmt, prec] = e
        elif not valid.get(prec) and fmt in FORMATS and prec in valid:  # artifacts of other weights or calibration
            (out_dir / artifact_name(source.id, fmt, prec)).unlink(missing_ok=True)
    todo = []
    for fmt, prec in asked:
        cached = cached_entry(old.get((fmt, prec)), out_dir) if valid[prec] else None
        if cached:
            entries[fmt, prec] = cached
            _log(f"export {artifact_name(source.id, fmt, prec)}: cached")
        else:
            todo.append((fmt, prec))
    if not todo and entries == old:
        return prev
    header = int8.record() if int8 is not None and INT8 in precisions else \
        {k: v for k, v in ((prev or {}).get(INT8) or {}).items() if k in ("calibration", "agreement_floor")}
    return _export_formats(source, sha, todo, out_dir, inputs, entries, int8, header, json_path)


def _export_formats(source: Source, sha: str, todo: list[tuple[str, str]], out_dir: Path, inputs: ParityInputs,
                    entries: dict[tuple[str, str], dict], int8: Int8Settings | None, int8_header: dict,
                    json_path: Path) -> dict:
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
    base = {"id": source.id, "source": source.record(sha), "model": source.spec.to_json(),
            "input_shape": list(source.input_shape), **sizes, "exporter": exporter()}
    record = assemble(base, entries, int8_header, floor8)
    if not todo:  # only entries of other weights or calibration went: record that
        write_record(json_path, record, None)
    for name in dict.fromkeys(f for f, _ in todo):
        fmt = get_format(name)
        precs = [p for f, p in todo if f == name]
        converted = _convert(fmt, model, sample)
        for prec in precs:
            if prec == FP32:
                entry = _export_one(source, fmt, converted, inputs, ref, sizes, out_dir)
            else:
                entry = _export_int8(source, fmt, converted, entries.get((name, FP32)), inputs, ref,
                                     int8, floor8, out_dir)
            entries[name, prec] = entry
            record = assemble(base, entries, int8_header, floor8)
            write_record(json_path, record, None if "error" in entry else out_dir / entry["file"])
    return record


def _convert(fmt: Format, model, sample) -> Converted | ExportFailed:
    """The converter's output, or the one-line error it becomes (recorded by every precision asked).

    A full or read-only disk raises :class:`WriteFailed` instead (the disk, not the model).
    """
    from .failures import describe

    try:
        return fmt.convert(model, sample)
    except EdgepruneError as e:
        if isinstance(e, WriteFailed):
            raise
        return ExportFailed(e.problem, e.fix)
    except OSError as e:  # a converter's scratch space is full or read-only: not a property of the model
        disk = write_error(e, e.filename or "the converter's temporary files")
        if disk is None:
            return describe(fmt, e, model, sample)
        raise disk from None
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
                       lambda p: check(p, fmt.suffix, fmt.layout, inputs.x, ref, inputs.origin, label),
                       artifact_name(source.id, fmt.name, FP32)) as (twin, name):
            return export_int8(source.id, fmt, converted, twin, name, int8.calibration, inputs.agreement_inputs(),
                               int8.floor, floor_bytes, out_dir)
    except WriteFailed:
        raise
    except EdgepruneError as e:
        (out_dir / label).unlink(missing_ok=True)
        _log(f"export {label}: FAILED: {e}")
        return {"precision": INT8, "error": str(e)}


# ---------------------------------------------------------------- entry points
def export_run(run, formats: list[str] | None = None, candidates: list[str] | None = None,
               precisions: list[str] | str | None = None, agreement_floor: float = AGREEMENT_FLOOR,
               skip_hint: str = SKIP_HINT) -> dict[str, dict]:
    """Export every candidate of ``run`` (and ``dense``) to ``RUN/artifacts/``; returns records by id.

    ``precisions``: ``"fp32"``, ``"int8"`` or both (default). int8 calibrates on
    training images (``data/calib.npz``) and is checked against the fp32 twin on
    the test split; an artifact below ``agreement_floor`` is recorded as rejected.
    Raises a one-line :class:`ExportFailed` after writing everything it could if
    any artifact failed (a rejection is not a failure); its advice ends with
    ``skip_hint`` (how the calling command leaves a format out; ``{ok}`` = the
    formats that worked).
    """
    rd = RunDir(run)
    if not rd.run_json.is_file():
        raise EdgepruneError(f"{rd.root} is not a run directory (no run.json).", "Run edgeprune prune first.")
    formats = list(dict.fromkeys(formats or FORMATS))
    FORMATS.check(formats)
    precisions = check_precisions(precisions)
    run_info = RunRecord.read(rd.run_json, "Re-run edgeprune prune on this run.")
    sources = run_sources(rd, run_info, candidates)
    inputs = run_inputs(rd)
    for s in sources:  # damaged weights are refused before anything is written (calibration included)
        check_weights(s, sha256_file(s.weights))
    with stage_lock(rd.root, "export"):
        clean_stage_temps(rd.root, "export")
        int8 = None
        if INT8 in precisions:
            from .calibration import run_calibration

            int8 = Int8Settings(run_calibration(rd, run_info), agreement_floor)
        records = {s.id: export_source(s, formats, rd.artifacts_dir, inputs, precisions, int8) for s in sources}
    _raise_failures(records, formats, f"{rd.artifacts_dir}/<id>.json", skip_hint, precisions)
    return records


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
    from ..models import (check_model_name, create_model, infer_num_classes, load_weights, read_state_dict,
                          resolve_spec, restated_num_classes)
    from .prepare import fold_mask_keys, strip_masks

    shape = check_shape(input_shape)
    formats = list(dict.fromkeys(formats or FORMATS))
    FORMATS.check(formats)
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
    kwargs = {k: v for k, v in (model_kwargs or {}).items() if k != "num_classes"}  # read from the checkpoint
    n = infer_num_classes(model, state, kwargs)
    restated_num_classes(model_kwargs, n, f"the checkpoint {ck.name}")  # a restated value must agree
    spec = resolve_spec(model, n, shape[2], kwargs) if shape[2] == shape[3] else ModelSpec(model, n, kwargs)

    def load():
        net = create_model(spec)
        load_weights(net, state)
        strip_masks(net)
        return net.eval()

    out_dir = Path(out)
    x = np.random.default_rng(0).standard_normal((16, *shape[1:])).astype(np.float32)
    # not a run directory: only temps of the files this command writes (edgeprune's marker, exact names)
    names = [f"{ck.stem}.json", *(artifact_name(ck.stem, get_format(f).name, p) for f in formats for p in precisions)]
    clean_stale_temps(out_dir, tuple(names))
    source = Source(ck.stem, ck, str(ck.resolve()), spec, shape, load)
    record = export_source(source, formats, out_dir, ParityInputs(x, "random-normal(seed=0, n=16)"), precisions, int8)
    _raise_failures({source.id: record}, formats, str(out_dir / f"{source.id}.json"), SKIP_HINT, precisions)
    return record
