"""Read on-device measurements from NVIDIA ``trtexec`` and TFLite ``benchmark_model`` logs. Pure text -> records.

Jetson Nano / Xavier NX cannot run edgeprune; their firmware teams measure with
these tools, and the logs are the measurements. Wording read here, by version
(sources: NVIDIA/TensorRT ``samples/common/sampleReporting.cpp`` printEpilog and
the ``&&&& RUNNING TensorRT.trtexec [TensorRT vNNNN]`` banner;
tensorflow ``tensorflow/lite/tools/benchmark/benchmark_model.cc``):

- trtexec 7.x: "Host Latency" / "GPU Compute" blocks of "min: X ms (end to end Y ms)" ... "percentile: X ms at 99%";
- trtexec 8.0-8.4: "Latency: min = X ms, max = ..., mean = ..., median = ..., percentile(99%) = ... ms";
- trtexec 8.5+, 10.x: the same with "percentile(90%) = ..., percentile(95%) = ..., percentile(99%) = ...";
- benchmark_model, TF 1.x/2.0: "Average inference timings in us: Warmup: W, Init: I, no stats: N" (or "Inference: N");
- benchmark_model, TF 2.2+: "Inference timings in us: Init: I, First inference: F, Warmup (avg): W, Inference (avg): N",
  memory as "Peak memory footprint (MB): init=X overall=Y" or, later, "Memory footprint delta from the start of
  the tool (MB): init=X overall=Y" plus "Overall peak memory footprint (MB) via periodic monitoring: P";
  run statistics "count=N first= curr= min= max= avg= std=" (LiteRT adds "p5= median= p95=").

A ``sha256sum`` line naming the model ("<64 hex>  model.onnx"), which the ship
bundle's README puts at the top of each log, is read as the log's own hash of
the file it measured.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from ..errors import EdgepruneError
from ..runio import sha256_bytes

TRTEXEC, BENCHMARK_MODEL = "trtexec", "benchmark_model"
TOOL_FORMAT = {TRTEXEC: "onnx", BENCHMARK_MODEL: "tflite"}
_PREFIX = re.compile(r"^\s*(?:(?:\[[^\]]*\]|INFO:|VERBOSE:|WARNING:|ERROR:)\s*)*")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan"
_SHA_LINES = (re.compile(r"^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$"), re.compile(r"^SHA256 \((.+)\) = ([0-9a-fA-F]{64})$"))


@dataclass(frozen=True)
class Timing:
    """A latency summary in ms; ``statistic`` names the figure selection compares (median, else mean)."""

    values: dict[str, float]
    runs: int | None
    statistic: str

    @property
    def value(self) -> float:
        return self.values[self.statistic]

    def record(self) -> dict:
        return {**self.values, "runs": self.runs, "statistic": self.statistic}


@dataclass(frozen=True)
class DeviceLog:
    """What one tool log says about one model file."""

    tool: str
    file: Path
    sha256: str  # of the log file
    model: str  # the model path as the log prints it
    model_sha256: str | None  # from a sha256sum line in the log naming that file
    version: str | None
    precision: str | None
    threads: int | None
    device: str | None
    latency: Timing
    details: dict = field(default_factory=dict)  # every other figure the log printed

    @property
    def format(self) -> str:
        return TOOL_FORMAT[self.tool]

    @property
    def model_name(self) -> str:
        return PureWindowsPath(self.model).name  # splits on / and \


def _fail(path: Path, problem: str, fix: str) -> EdgepruneError:
    return EdgepruneError(f"{path}: {problem}.", fix)


def _f(text: str) -> float:
    return float(text)


def _lines(text: str) -> list[str]:
    return [_PREFIX.sub("", line).rstrip() for line in text.splitlines()]


def _first(lines: list[str], pattern: str) -> re.Match | None:
    rx = re.compile(pattern)
    return next((m for m in map(rx.search, lines) if m), None)


def _model_sha(lines: list[str], model: str) -> str | None:
    name = PureWindowsPath(model).name
    for line in lines:
        for i, rx in enumerate(_SHA_LINES):
            m = rx.match(line)
            if m:
                digest, path = (m.group(1), m.group(2)) if i == 0 else (m.group(2), m.group(1))
                if PureWindowsPath(path).name == name:
                    return digest.lower()
    return None


def detect_tool(text: str) -> str | None:
    """Which tool wrote ``text`` (None: neither)."""
    if re.search(r"TensorRT\.trtexec|=== Performance summary ===|\[I\] === Model Options ===", text):
        return TRTEXEC
    if re.search(r"[Ii]nference timings in us|^\s*(?:INFO: )?STARTING!|^\s*(?:INFO: )?Graph: \[", text, re.M):
        return BENCHMARK_MODEL
    return None


def parse_log(path: Path, data: bytes) -> DeviceLog:
    """Parse a trtexec or benchmark_model log; EdgepruneError names what is missing."""
    text = data.decode("utf-8", errors="replace")
    tool = detect_tool(text)
    if tool is None:
        raise _fail(path, "is neither an edgeprune bench JSON, a trtexec log nor a TFLite benchmark_model log",
                    "Import the bench JSON made with 'edgeprune bench --on-device', or the full output of "
                    "trtexec / benchmark_model (see the ship bundle's README).")
    parse = parse_trtexec if tool == TRTEXEC else parse_benchmark_model
    return parse(path, _lines(text), sha256_bytes(data))


# ---------------------------------------------------------------- trtexec
_NEW_SUMMARY = re.compile(r"^(Latency|End-to-End Host Latency|Enqueue Time|H2D Latency|GPU Compute Time|D2H Latency): "
                          r"(min = .*)$")
_OLD_BLOCKS = {"Host Latency": "Latency", "Enqueue Time": "Enqueue Time", "GPU Compute": "GPU Compute Time"}
_OLD_ROW = re.compile(rf"^(min|max|mean|median|percentile): ({_NUM}) ms(?: at (\d+(?:\.\d+)?)%)?")
_REQUIRED = ("min", "max", "mean", "median")
_BINDING = re.compile(r"^(?:Created input binding for (\S+) with dimensions (\S+)$|"
                      r"Input binding for (\S+) with dimensions (\S+) is created)")


def _pkey(pct: str) -> str:
    return "p" + format(float(pct), "g").replace(".", "_")


def _new_summary(body: str) -> dict[str, float]:
    out = {}
    for key, pct, value in re.findall(rf"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\)) = ({_NUM}) ms", body):
        out[_pkey(pct) if pct else key] = _f(value)
    return out


def _summaries(lines: list[str]) -> dict[str, dict[str, float]]:
    """Every timing summary of the log: 8.x/10.x one-line form, or 7.x blocks."""
    out: dict[str, dict[str, float]] = {}
    block = None
    for line in lines:
        m = _NEW_SUMMARY.match(line)
        if m:
            out[m.group(1)] = _new_summary(m.group(2))
            continue
        if line in _OLD_BLOCKS:
            block = out.setdefault(_OLD_BLOCKS[line], {})
            continue
        m = _OLD_ROW.match(line)
        if m and block is not None:
            key = _pkey(m.group(3)) if m.group(1) == "percentile" and m.group(3) else m.group(1)
            block[key] = _f(m.group(2))
        elif not m:
            block = None
    return out


def trt_version(lines: list[str]) -> str | None:
    """"TensorRT version: 8.2.1" (8.2+), "... 8001" (8.0), else the banner "[TensorRT v8502]" / "[v100300]"."""
    m = _first(lines, r"^TensorRT version: (\S+)")
    raw = m.group(1) if m else None
    if raw is None:
        b = _first(lines, r"\[TensorRT v(\d+)\]")
        raw = b.group(1) if b else None
    if raw is None or not raw.isdigit():
        return raw
    n = int(raw)
    if len(raw) >= 6:  # 10.x: major*10000 + minor*100 + patch
        return f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    return f"{n // 1000}.{n // 100 % 10}.{n % 100}"


def _precision(lines: list[str], command: str) -> str | None:
    m = _first(lines, r"^Precision: (\S.*)$")
    if m:
        kinds = [k.lower() for k in re.findall(r"\b(FP16|BF16|INT8|FP8|INT4|FP4)\b", m.group(1), re.I)]
        return "+".join(kinds) or "fp32"
    flags = [f for f in ("fp16", "bf16", "int8", "fp8", "best") if re.search(rf"--{f}\b", command)]
    return "+".join(flags) or ("fp32" if command else None)


def parse_trtexec(path: Path, lines: list[str], sha: str) -> DeviceLog:
    fix = "Send the complete output of the trtexec run (the bundle README's command tees it into a file)."
    if any(line.startswith("&&&& FAILED") for line in lines):
        raise _fail(path, "trtexec reported FAILED", "Fix the run on the device and send the log of a run that PASSED.")
    done = _first(lines, r"^&&&& PASSED")
    summaries = _summaries(lines)
    lat = summaries.get("Latency")
    if lat is None or not done:
        missing = "'=== Performance summary ===' figures" if lat is None else "the '&&&& PASSED' line"
        raise _fail(path, f"trtexec log without {missing} (truncated, or the run did not finish)", fix)
    absent = [k for k in _REQUIRED if k not in lat]
    if absent:
        raise _fail(path, f"trtexec's Latency summary lacks {', '.join(absent)} (a cut line?)", fix)
    cmd_m = _first(lines, r"^&&&& (?:RUNNING|PASSED) TensorRT\.trtexec.*? # (.*)$")
    command = cmd_m.group(1) if cmd_m else ""
    fmt = _first(lines, r"^Format: (\S+)")
    if fmt and fmt.group(1).upper() not in ("ONNX", "*"):
        raise _fail(path, f"trtexec ran a {fmt.group(1)} model, not ONNX", "Run trtexec --onnx=model.onnx.")
    m = _first(lines, r"^Model: (\S.*)$") or re.search(r"--onnx=(\S+)", command)
    if not m:
        raise _fail(path, "the trtexec log names no ONNX model (a --loadEngine run?), so it cannot be matched to an "
                          "artifact", "Run trtexec --onnx=model.onnx as the ship bundle's README shows.")
    model = m.group(1).strip()
    counts = [_first(lines, rf"^{w} (\d+) queries") for w in ("Warmup completed", "Timing trace has")]
    times = _first(lines, r"^Export timing to JSON file: (\S+)") or re.search(r"--exportTimes=(\S+)", command)
    inputs = {}
    for line in lines:
        b = _BINDING.match(line)
        if b:
            inputs[b.group(1) or b.group(3)] = b.group(2) or b.group(4)
    gpu = summaries.get("GPU Compute Time")
    transfers = _first(lines, r"^Data transfers: (\S+)")
    device = _first(lines, r"^Selected Device: (\S.*)$")
    details = {"summaries": summaries, "command": command,
               "warmup_queries": int(counts[0].group(1)) if counts[0] else None,
               "data_transfers": transfers.group(1) if transfers else None,
               "gpu_compute_median_ms": (gpu or {}).get("median"), "export_times": times.group(1) if times else None,
               "input_dims": inputs,
               "latency_source": "Latency" if _first(lines, r"^Latency: min") else "Host Latency"}
    timing = Timing(dict(lat), int(counts[1].group(1)) if counts[1] else None, "median")
    return DeviceLog(TRTEXEC, path, sha, model, _model_sha(lines, model), trt_version(lines),
                     _precision(lines, command), None, device.group(1) if device else None, timing, details)


# ---------------------------------------------------------------- benchmark_model
_TIMINGS_NEW = (r"^Inference timings in us: Init: ({n}), First inference: ({n}), Warmup \(avg\): ({n}), "
                r"Inference \(avg\): ({n})").format(n=_NUM)
_TIMINGS_OLD = (r"^Average inference timings in us: Warmup: ({n}), Init: ({n}), "
                r"(?:no stats|Inference): ({n})").format(n=_NUM)
_MEMORY = {"peak_footprint_mb": r"^Peak memory footprint \(MB\): init=({n}),? overall=({n})",
           "footprint_delta_mb": (r"^Memory footprint delta from the start of the tool \(MB\): "
                                  r"init=({n}),? overall=({n})")}


def _run_stats(lines: list[str], end: int) -> dict[str, float] | None:
    """The ``count=...`` line that follows the last "Running benchmark" line before ``end`` (the timed runs)."""
    starts = [i for i in range(end) if lines[i].startswith("Running benchmark for")]
    for line in lines[starts[-1] + 1:end] if starts else []:
        if line.startswith("count="):
            return {k: _f(v) for k, v in re.findall(rf"(\w+)=({_NUM})", line)}
    return None


def parse_benchmark_model(path: Path, lines: list[str], sha: str) -> DeviceLog:
    fix = "Send the complete output of the benchmark_model run (the bundle README's command tees it into a file)."
    if any(line.startswith("Benchmarking failed") for line in lines):
        raise _fail(path, "benchmark_model reported 'Benchmarking failed'", "Fix the run on the device and send a "
                                                                             "log that ends with 'Inference timings'.")
    idx = next((i for i, line in enumerate(lines) if re.match(_TIMINGS_NEW + "|" + _TIMINGS_OLD, line)), None)
    if idx is None:
        raise _fail(path, "benchmark_model log without its 'Inference timings in us' line (truncated, or the run "
                          "did not finish)", fix)
    m = re.match(_TIMINGS_NEW, lines[idx])
    names = ("init_ms", "first_ms", "warmup_avg_ms", "avg_ms") if m else ("warmup_avg_ms", "init_ms", "avg_ms")
    t = dict(zip(names, (_f(x) / 1e3 for x in (m or re.match(_TIMINGS_OLD, lines[idx])).groups())))
    stats = _run_stats(lines, idx)
    if stats is None or "count" not in stats:
        raise _fail(path, "benchmark_model log without the statistics line of its timed runs (count=... avg=...)", fix)
    if "avg" not in stats and "curr" in stats:  # "count=N curr=X": every run took the same time
        stats = dict(stats, avg=stats["curr"], min=stats["curr"], max=stats["curr"], std=0.0)
    if not math.isclose(stats.get("avg", math.nan) / 1e3, t["avg_ms"], rel_tol=2e-3, abs_tol=1e-3):
        raise _fail(path, "the run statistics do not match 'Inference (avg)' (mixed-up lines?)", fix)
    renamed = {"avg": "mean", "std": "std", "min": "min", "max": "max", "median": "median", "p5": "p5", "p95": "p95"}
    values = {renamed[k]: v / 1e3 for k, v in stats.items() if k in renamed}
    graph = _first(lines, r"^Graph: \[(.*)\]$")
    if not graph or not graph.group(1).strip():
        raise _fail(path, "the benchmark_model log names no model (no 'Graph: [...]' line)", fix)
    model = graph.group(1).strip()
    threads = _first(lines, r"^(?:Num threads|#threads used for CPU inference): \[(-?\d+)\]")
    memory = {k: dict(zip(("init", "overall"), map(_f, mm.groups()))) for k, rx in _MEMORY.items()
              if (mm := _first(lines, rx.format(n=_NUM)))}
    peak = _first(lines, rf"^Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})")
    size = _first(lines, rf"^The input model file size \(MB\): ({_NUM})")
    details = {**t, "memory": memory, "peak_rss_mb": _f(peak.group(1)) if peak else None,
               "model_size_mb": size.group(1) if size else None,
               "delegates": sorted({d.group(1) for line in lines if (d := re.match(r"^Created TensorFlow Lite (.+?) "
                                                                                 r"delegate", line))})}
    n_threads = int(threads.group(1)) if threads else None
    return DeviceLog(BENCHMARK_MODEL, path, sha, model, _model_sha(lines, model), None, None,
                     n_threads if n_threads and n_threads > 0 else None, None,
                     Timing(values, int(stats["count"]), "median" if "median" in values else "mean"), details)
