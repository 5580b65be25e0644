"""How the firmware team measures the shipped model on the device and sends the figures back.

Jetson boards whose profile runs ONNX in TensorRT measure with ``trtexec``; a
TFLite model with TFLite's ``benchmark_model``; anything else with edgeprune's
own on-device bench. Each way ends in ``edgeprune bench RUN --import ...``
(:mod:`edgeprune.bench.logimport`), which matches the log to the shipped file
by the ``sha256sum`` line the commands put first in the log.
"""
from __future__ import annotations

TRTEXEC_PATH = "/usr/src/tensorrt/bin/trtexec"  # where JetPack installs it


def device_bench(target: str, fmt: str, file: str, runtime: str | None, threads: int | None) -> dict:
    """Commands to run in the bundle directory on the device, and the import command for the host."""
    return {"target": target, **_commands(target, fmt, file, runtime, threads)}


def _commands(target: str, fmt: str, file: str, runtime: str | None, threads: int | None) -> dict:
    if fmt == "onnx" and runtime == "tensorrt":
        log, times = f"trtexec-{target}.log", f"trtexec-{target}-times.json"
        return {"tool": "trtexec", "log": log, "times": times, "commands": [
            f"sha256sum {file} > {log}",
            f"{TRTEXEC_PATH} --onnx={file} --fp16 --exportTimes={times} 2>&1 | tee -a {log}"],
            "import": f"edgeprune bench RUN --target {target} --import {log} {times}",
            "notes": "--fp16 builds the engine the published Jetson latencies use; add --int8 for an int8 (QDQ) model."}
    if fmt == "tflite":
        log = f"benchmark_model-{target}.log"
        return {"tool": "benchmark_model", "log": log, "commands": [
            f"sha256sum {file} > {log}",
            f"./benchmark_model --graph={file} --num_threads={threads or 1} --report_peak_memory_footprint=true "
            f"2>&1 | tee -a {log}"],
            "import": f"edgeprune bench RUN --target {target} --import {log}",
            "notes": "benchmark_model is TensorFlow's prebuilt linux_aarch64 binary (tensorflow/lite/tools/benchmark); "
                     "builds older than --report_peak_memory_footprint run without that flag."}
    out = f"{target}-device.json"
    return {"tool": "edgeprune", "log": out, "commands": [
        f"edgeprune bench {file} --target {target} --eval eval.npz --on-device --out {out}"],
        "import": f"edgeprune bench RUN --import {out}", "notes": "Needs edgeprune[device] on the device."}


def render(d: dict) -> str:
    """The README section for :func:`device_bench`'s record."""
    lines = "\n".join(d["commands"])
    sent = " and ".join(f"`{name}`" for name in (d["log"], d.get("times")) if name)
    figures = "latency, load time and peak RAM" if d["tool"] == "benchmark_model" else "latency"
    why = ("its rows carry the file's sha256" if d["tool"] == "edgeprune" else
           "the log records the model's sha256 first, so the import can check it measured this exact file")
    return f"""Run in this directory on the device ({why}):

```sh
{lines}
```

{d["notes"]}

Send {sent} back and merge on the host, where RUN is the run directory this bundle was shipped from
(the bundle is RUN/ship/{d["target"]}):

```sh
{d["import"]}
```

The imported {figures} then count as *measured* and win over the host estimates; re-run `edgeprune select`
and `edgeprune ship` to use them.
Only this model is measured: the other candidates keep their estimates unless their logs are imported too."""
