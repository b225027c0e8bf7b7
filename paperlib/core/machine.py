"""What the machine this process runs on offers: the cores it may use, its free memory, its
GPUs, and whether its CPU computes bfloat16 natively.

A probe of capabilities, never a list of CPU models: native bf16 is the AVX512-BF16 dot-product
instructions (AMD Zen 4, Intel Cooper Lake and later) or Intel's AMX tiles, read from torch's own
cpuinfo probe (`torch.cpu._is_avx512_bf16_supported`, `_is_amx_tile_supported`) where torch has
it, else from the flags of /proc/cpuinfo. Without them oneDNN emulates bf16 with float32
arithmetic and conversions, which is slower than float32 itself.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class CpuBf16:
    """The CPU's bfloat16 support: `native` when either instruction set is there."""

    avx512_bf16: bool
    amx_bf16: bool
    source: str  # "torch" (its cpuinfo probe) or "/proc/cpuinfo"

    @property
    def native(self) -> bool:
        return self.avx512_bf16 or self.amx_bf16

    def describe(self) -> str:
        found = [name for name, ok in (("AVX512-BF16", self.avx512_bf16), ("AMX-BF16", self.amx_bf16)) if ok]
        return f"native bf16: {', '.join(found) or 'none'} (from {self.source})"

    def to_dict(self) -> dict:
        return {**asdict(self), "native": self.native}


def cpu_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> CpuBf16:
    """Probe the CPU for native bf16 (module docstring)."""
    probe = getattr(torch, "cpu", None)
    avx, amx = getattr(probe, "_is_avx512_bf16_supported", None), getattr(probe, "_is_amx_tile_supported", None)
    if avx is not None and amx is not None:
        return CpuBf16(avx512_bf16=bool(avx()), amx_bf16=bool(amx()), source="torch")
    flags: set[str] = set()
    path = Path(cpuinfo)
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return CpuBf16(avx512_bf16="avx512_bf16" in flags, amx_bf16="amx_bf16" in flags, source=str(path))


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, as a container or `taskset`
    restricts it), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity outside Linux
        return max(1, os.cpu_count() or 1)


def available_memory() -> int:
    """Bytes of memory available to new processes now (psutil's estimate, without swapping)."""
    import psutil

    return int(psutil.virtual_memory().available)


def cuda_devices() -> int:
    """GPUs this process sees (CUDA_VISIBLE_DEVICES applies); 0 without CUDA."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def processor_name(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (what a CPU bench file records as `machine.processor`)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


__all__ = ["CpuBf16", "available_memory", "cpu_bf16", "cuda_devices", "processor_name", "usable_cores"]
