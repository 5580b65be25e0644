"""Run an exported artifact in its own runtime (ONNX Runtime, LiteRT). Torch-free.

One entry point, :func:`open_runner`, picks the runtime from the file suffix via
a registry. A runner takes NCHW float32 input (what the run's ``test.npz``
holds) and converts to the artifact's layout itself, so callers never care
whether a TFLite file was exported NHWC.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import EdgepruneError, missing_extra
from .registry import Registry


@dataclass
class Runner:
    """A loaded artifact. ``run(x)`` maps an NCHW float32 batch to logits."""

    path: Path
    runtime: str
    version: str
    threads: int | None
    input_name: str
    input_shape: list[int]
    layout: str  # NCHW | NHWC: the artifact's own input layout
    output_name: str
    memory_settings: dict[str, Any] = field(default_factory=dict)
    _invoke: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def batch(self) -> int:
        b = self.input_shape[0] if self.input_shape else 1
        return b if isinstance(b, int) and b > 0 else 0  # 0 = dynamic

    def to_layout(self, x_nchw: np.ndarray) -> np.ndarray:
        return to_layout(x_nchw, self.layout)

    def run(self, x_nchw: np.ndarray) -> np.ndarray:
        """Logits for ``x_nchw`` (any batch size; split to the artifact's batch)."""
        x = self.to_layout(x_nchw)
        if self.batch in (0, len(x)):
            return self._invoke(x)
        b = self.batch
        outs = [self._invoke(x[i:i + b]) for i in range(0, len(x) - len(x) % b, b)]
        rest = len(x) % b
        if rest:  # pad the tail batch, drop the padding
            pad = np.concatenate([x[len(x) - rest:], np.zeros((b - rest, *x.shape[1:]), x.dtype)])
            outs.append(self._invoke(pad)[:rest])
        return np.concatenate(outs)

    def invoke_raw(self, x_in_layout: np.ndarray) -> np.ndarray:
        """One call with input already in the artifact's layout and batch (for timing)."""
        return self._invoke(x_in_layout)

    def example_input(self, seed: int = 0) -> np.ndarray:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in self.input_shape]
        return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def to_layout(x_nchw: np.ndarray, layout: str) -> np.ndarray:
    """NCHW float32 batch -> the artifact's layout (NCHW or NHWC), contiguous."""
    x = np.asarray(x_nchw, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1) if layout == "NHWC" else x)


def to_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    """Inverse of :func:`to_layout`."""
    x = np.asarray(x, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if layout == "NHWC" else x)


def _infer_layout(shape: list[int]) -> str:
    if len(shape) == 4 and shape[-1] in (1, 3, 4) and shape[1] not in (1, 3, 4):
        return "NHWC"
    return "NCHW"


def _import_onnxruntime():
    try:
        import onnxruntime as ort
    except ImportError:
        raise missing_extra("onnxruntime", "onnx") from None
    return ort


def _open_onnx(path: Path, threads: int | None, layout: str | None) -> Runner:
    ort = _import_onnxruntime()
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    # The arena keeps freed blocks and inflates RSS; off, peak RSS is the model's own.
    so.enable_cpu_mem_arena = False
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own types; make it one line
        raise EdgepruneError(f"{path.name}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:200]}).",
                             "Re-export the artifact.") from None
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    shape = [d if isinstance(d, int) else 0 for d in inp.shape]

    def invoke(x: np.ndarray) -> np.ndarray:
        return sess.run([out.name], {inp.name: x})[0]

    return Runner(path, "onnxruntime", ort.__version__, threads, inp.name, shape, layout or _infer_layout(shape),
                  out.name, {"enable_cpu_mem_arena": False, "graph_optimization_level": "ORT_ENABLE_ALL"}, invoke)


def tflite_interpreter_class():
    """LiteRT's Interpreter, or tflite-runtime's as a fallback on old devices."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        import ai_edge_litert

        return Interpreter, "ai-edge-litert", getattr(ai_edge_litert, "__version__", _dist_version("ai-edge-litert"))
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime", _dist_version("tflite-runtime")
    except ImportError:
        raise missing_extra("ai-edge-litert", "tflite") from None


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def _open_tflite(path: Path, threads: int | None, layout: str | None) -> Runner:
    Interpreter, name, version = tflite_interpreter_class()
    try:
        it = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count() or 1)
        it.allocate_tensors()
    except Exception as e:
        raise EdgepruneError(f"{path.name}: LiteRT cannot load it ({str(e).splitlines()[0][:200]}).",
                             "Re-export the artifact.") from None
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    shape = [int(d) for d in inp["shape"]]

    def invoke(x: np.ndarray) -> np.ndarray:
        it.set_tensor(inp["index"], x)
        it.invoke()
        return it.get_tensor(out["index"]).copy()

    return Runner(path, name, version, threads, inp["name"], shape, layout or _infer_layout(shape), out["name"],
                  {"delegate": "XNNPACK (LiteRT default CPU path)"}, invoke)


@dataclass(frozen=True)
class Runtime:
    """How one artifact type runs: ``open`` loads a file; ``load`` imports the runtime only."""

    open: Callable[[Path, int | None, str | None], Runner]  # (path, threads, layout) -> Runner
    load: Callable[[], tuple[str, str]]  # -> (runtime name, version); bench takes its memory baseline after it


#: artifact suffix -> runtime
RUNTIMES: Registry[Runtime] = Registry("artifact type")
RUNTIMES.add(".onnx", Runtime(_open_onnx, lambda: ("onnxruntime", _import_onnxruntime().__version__)))
RUNTIMES.add(".tflite", Runtime(_open_tflite, lambda: tflite_interpreter_class()[1:]))


def runtime_for(path: str | os.PathLike, suffix: str | None = None) -> Runtime:
    """The runtime for ``path``'s suffix (or ``suffix``: a temp file may carry another); one-line error if none."""
    p = Path(path)
    try:
        return RUNTIMES.get(suffix or p.suffix)
    except EdgepruneError as e:
        raise EdgepruneError(f"{p.name}: {e.problem}", e.fix) from None


def import_runtime(path: str | os.PathLike) -> tuple[str, str]:
    """Import the runtime ``path`` needs without loading the file; returns (name, version)."""
    return runtime_for(path).load()


def open_runner(path: str | os.PathLike, threads: int | None = None, layout: str | None = None) -> Runner:
    """Load ``path`` in the runtime its suffix names."""
    p = Path(path)
    runtime = runtime_for(p)
    if not p.is_file():
        raise EdgepruneError(f"{p} does not exist.", "Run 'edgeprune export' first.")
    return runtime.open(p, threads, layout)


def evaluate(runner: Runner, x_nchw: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the artifact itself on a preprocessed NCHW set."""
    if len(y) == 0:
        return float("nan")
    return float((runner.run(x_nchw).argmax(axis=1) == y).mean())
