"""Peak memory of one training step for `paperlib bench`: CUDA's allocator statistics, or on
CPU the torch profiler's running sum of tensor allocations, with the process RSS peak beside it."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def step_memory(step: Callable[[], None], device: str, model: nn.Module) -> dict:
    """Peak memory of one training step above what was allocated before it: activations,
    gradients and temporaries (the step starts without gradients; weights and momentum are the
    state before it)."""
    model.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_bytes": peak - before, "peak_allocated_bytes": peak,
                "method": "torch.cuda.max_memory_allocated during one step minus memory_allocated before it"}
    profiled = _profiler_peak(step)
    model.zero_grad(set_to_none=True)
    rss = _rss_peak(step)
    rss_method = ("process VmHWM after resetting it via /proc/self/clear_refs, minus VmRSS before the step "
                  "(a lower bound: malloc reuses memory it kept from earlier steps)")
    if profiled is None:
        if rss is None:
            raise RuntimeError("no way to measure CPU memory here: neither the torch profiler nor /proc/self")
        return {"peak_bytes": rss, "method": rss_method}
    result = {"peak_bytes": profiled,
              "method": "torch profiler (profile_memory): largest running sum of the CPU tensor allocations "
                        "minus frees during one step"}
    if rss is not None:
        result.update(rss_peak_bytes=rss, rss_method=rss_method)
    return result


KINETO_CHATTER = ("profiler_start", "profiler_stop", "gpuGetDeviceCount")


@contextlib.contextmanager
def _quiet_kineto():
    """Kineto writes start/stop lines to file descriptor 2 from C++; drop those, keep the rest."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if not any(word in line for word in KINETO_CHATTER):
                    print(line, file=sys.stderr)


def _profiler_peak(step: Callable[[], None]) -> int | None:
    from torch.profiler import ProfilerActivity, profile

    with _quiet_kineto(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    try:  # the raw event stream, in time order (the summaries lose the order)
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    except AttributeError:  # another torch version: fall back to the RSS measure
        return None
    running = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        running += e.nbytes()
        peak = max(peak, running)
    return peak


def _rss_peak(step: Callable[[], None]) -> int | None:
    def status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
        before = status("VmRSS")
        step()
        return status("VmHWM") - before
    except (OSError, KeyError, ValueError):
        return None
