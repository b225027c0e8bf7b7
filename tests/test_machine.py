"""What the machine offers (core.machine): native bf16 found by a capability probe, the cores the
process may use; and the spec's bf16 on the CPU, which a profile may set only once its twins in the
other precision have measured it."""

from __future__ import annotations

import types

import torch

from paperlib.core import machine
from paperlib.core.machine import cpu_bf16, usable_cores
from paperlib.series.notebooks import series_plan
from paperlib.series.study import Study
from paperlib.train.spec import TrainConfig


def test_the_probe_reads_the_cpu_flags_where_torch_has_no_probe(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "torch", types.SimpleNamespace(cpu=types.SimpleNamespace()))
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16 avx512_vnni\n")
    found = cpu_bf16(info)
    assert (found.avx512_bf16, found.amx_bf16, found.native, found.source) == (True, False, True, str(info))
    info.write_text("processor : 0\nflags : fpu sse avx2 amx_tile amx_bf16\n")
    assert cpu_bf16(info).amx_bf16 and cpu_bf16(info).native
    info.write_text("processor : 0\nflags : fpu sse avx2 fma\n")
    assert not cpu_bf16(info).native and "none" in cpu_bf16(info).describe()


def test_the_probe_asks_torch_where_it_can():
    found = cpu_bf16()
    if hasattr(torch.cpu, "_is_avx512_bf16_supported"):
        assert found.source == "torch" and found.avx512_bf16 == torch.cpu._is_avx512_bf16_supported()


def test_usable_cores_follow_the_affinity(monkeypatch):
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert usable_cores() == 3


def test_bf16_on_the_cpu_is_part_of_the_spec_and_off_unless_asked():
    assert TrainConfig(cpu_bf16=True).run_id != TrainConfig().run_id
    assert "cpu_bf16" not in TrainConfig().to_json()  # float32 runs keep their ids
    assert not any(Study(profile=p).cpu_bf16 for p in ("smoke", "mini", "full"))  # float32 by default
    plan = series_plan(Study(profile="mini", cpu_bf16=True))
    assert {c.cpu_bf16 for _, _, c in plan} == {True}


