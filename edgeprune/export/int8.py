"""One int8 artifact: quantize the converted fp32 model, write it atomically, check it against its fp32 twin.

Called by :mod:`.pipeline` for every (source, format) that asks for int8. The
record entry mirrors the fp32 one (file, sha256, bytes, encoding, io) and adds
``precision``, ``quantization`` (tool, scheme, float I/O), ``calibration`` and
``agreement`` (:mod:`.agreement`). A rejected artifact leaves no file and an
entry ``{"error": reason, "rejected": true, "agreement": {...}}``.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..log import info
from ..errors import EdgepruneError, WriteFailed, write_error
from ..precision import INT8, artifact_name
from ..runio import TEMP_MARK, atomic_path, gzip_size, sha256_file
from .agreement import AGREEMENT_FLOOR, Int8Rejected, check_agreement
from .calibration import Calibration, describe
from .failures import ExportFailed, _first_line
from .formats import Converted, Format


@dataclass
class AgreementInputs:
    """Images the int8 file is compared with its fp32 twin on (the run's test split)."""

    x: np.ndarray
    y: np.ndarray | None
    origin: str


@dataclass
class Int8Settings:
    """What the int8 artifacts of an export depend on besides the weights."""

    calibration: Calibration
    floor: float = AGREEMENT_FLOOR

    def record(self) -> dict:
        return {"calibration": self.calibration.record, "agreement_floor": self.floor}


def _log(msg: str) -> None:
    info(msg)


@contextlib.contextmanager
def twin_file(out_dir: Path, fmt: Format, fp32_entry: dict | None, converted: Converted,
              check: Callable[[Path], object], fp32_name: str) -> Iterator[tuple[Path, str]]:
    """The fp32 twin to compare with: the exported fp32 file, or (fp32 not exported this time) the
    converted bytes in a temp file (a marked temp of ``fp32_name``, cleaned if killed) that must first
    pass ``check(path)`` (parity with PyTorch)."""
    if fp32_entry and "error" not in fp32_entry and (out_dir / fp32_entry["file"]).is_file():
        yield out_dir / fp32_entry["file"], fp32_entry["file"]
        return
    if fp32_entry and "error" in fp32_entry:
        raise ExportFailed(f"no valid fp32 twin to quantize ({fp32_entry['error']})", "Fix the fp32 export first.")

    def disk(e: OSError) -> BaseException:
        return write_error(e, out_dir / fp32_name) or e

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{fp32_name}.{TEMP_MARK}twin-", suffix=f"{fmt.suffix}.tmp", dir=out_dir)
        os.close(fd)
    except OSError as e:
        raise disk(e) from None
    tmp = Path(name)
    try:
        try:
            tmp.write_bytes(converted.data)
        except OSError as e:
            raise disk(e) from None
        check(tmp)
        yield tmp, "its fp32 conversion (parity-checked, not kept: fp32 not requested)"
    finally:
        tmp.unlink(missing_ok=True)


def export_int8(source_id: str, fmt: Format, converted: Converted, twin: Path, twin_name: str, calib: Calibration,
                inputs: AgreementInputs, floor: float, floor_bytes: int, out_dir: Path) -> dict:
    """Quantize, write, check agreement; returns the record entry (errors and rejections included)."""
    from .quantize import QUANTIZERS, versions

    final = out_dir / artifact_name(source_id, fmt.name, INT8)
    label = final.name
    try:
        try:
            q = QUANTIZERS[fmt.name](converted, calib.x)
        except EdgepruneError:
            raise
        except OSError as e:  # the quantizer's scratch space is full or read-only: not a property of the model
            disk = write_error(e, e.filename or "the quantizer's temporary files")
            if disk is None:
                raise ExportFailed(f"{label}: int8 quantization failed ({_first_line(e)}).",
                                   "Export with --precision fp32, or report this model.") from e
            raise disk from None
        except ImportError as e:
            raise ExportFailed(f"{label}: {e.name or e} is not installed.",
                               "Install the host extra: pip install 'edgeprune[host]'") from e
        except Exception as e:
            raise ExportFailed(f"{label}: int8 quantization failed ({_first_line(e)}).",
                               "Export with --precision fp32, or report this model.") from e
        with atomic_path(final) as tmp:
            tmp.write_bytes(q.data)
            agreement, io = check_agreement(tmp, fmt.suffix, twin, twin_name, fmt.layout, inputs.x, inputs.y,
                                            inputs.origin, label, floor)
    except WriteFailed:
        raise  # the disk, not the model: stop, keep what is on disk
    except Int8Rejected as e:
        final.unlink(missing_ok=True)
        _log(f"export {label}: REJECTED: {e.problem}")
        return {"precision": INT8, "error": str(e), "rejected": True, "agreement": e.agreement}
    except EdgepruneError as e:
        final.unlink(missing_ok=True)
        _log(f"export {label}: FAILED: {e}")
        return {"precision": INT8, "error": str(e)}
    nbytes = final.stat().st_size
    entry = {"file": final.name, "precision": INT8, "sha256": sha256_file(final), "bytes": nbytes,
             "gzip_bytes": gzip_size(final), "ratio_to_floor": nbytes / floor_bytes if floor_bytes else None,
             **{k: v for k, v in q.details.items() if k != "quantization"}, "layout": fmt.layout, **io,
             "encoding": q.encoding, "quantization": {**q.details.get("quantization", {}),
                                                       "calibration": describe(calib)},
             "agreement": agreement, "converter": {**fmt.versions(), **versions(fmt.name)}}
    _log(f"export {label}: {nbytes / 1e6:.2f} MB, {entry['ratio_to_floor']:.2f}x int8 floor, top-1 agreement "
         f"{agreement['top1_agreement']:.1%} with {twin_name} on {agreement['n']} inputs")
    return entry
