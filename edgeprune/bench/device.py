"""Which machine is this: host facts for the bench file, and on-device detection."""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from ..targets import Target

MODEL_FILES = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))
CPUINFO = Path("/proc/cpuinfo")

HOST_ESTIMATE = "host-estimate"
ON_DEVICE = "on-device"


def _cpuinfo_field(*keys: str) -> str | None:
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k.strip() in keys and v.strip():
            return v.strip()
    return None


def device_model() -> str | None:
    """The board's model string (device tree on Pi/Jetson), or None on a PC."""
    for p in MODEL_FILES:
        try:
            text = p.read_bytes().replace(b"\x00", b"").decode(errors="replace").strip()
        except OSError:
            continue
        if text:
            return text
    return _cpuinfo_field("Model")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def host_info() -> dict:
    """What the figures were measured on."""
    return {
        "machine": platform.machine(),
        "cpu": _cpuinfo_field("model name", "Hardware") or platform.processor() or "unknown",
        "cores": os.cpu_count() or 1,
        "usable_cores": usable_cores(),
        "device_model": device_model(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


@dataclass(frozen=True)
class Detection:
    matched: bool
    evidence: str


def detect(target: Target, model: str | None = None) -> Detection:
    """Is this machine ``target``? Compares the device-tree model with the profile's ``[detect]``."""
    model = device_model() if model is None else model
    wanted = target.detect.model if target.detect else ()
    if not model:
        return Detection(False, f"no device model string ({MODEL_FILES[0]} absent); machine {platform.machine()}")
    hit = next((w for w in wanted if w.lower() in model.lower()), None)
    if hit:
        return Detection(True, f"device model {model!r} contains {hit!r}")
    return Detection(False, f"device model {model!r} matches none of {list(wanted)}")


def resolve_mode(target: Target, on_device: bool | None, model: str | None = None) -> tuple[str, Detection]:
    """``on-device`` if forced or detected, else ``host-estimate``."""
    found = detect(target, model)
    if on_device is None:
        return (ON_DEVICE if found.matched else HOST_ESTIMATE), found
    return (ON_DEVICE if on_device else HOST_ESTIMATE), found
