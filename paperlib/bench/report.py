"""What `paperlib bench` makes of its measurements: the targets met or not, the JSON written
atomically, and the performance tables (docs/performance.md) rendered from that JSON."""

from __future__ import annotations

import json
from pathlib import Path

from paperlib.bench.core import FLOOR, METHODS, TARGETS, TIMED
from paperlib.bench.cpu import cpu_variants_markdown


def evaluate_targets(result: dict) -> list[dict]:
    """Each target with the value measured and whether it is met (shown, never asserted)."""
    rows = []

    def add(name: str, what: str, value: float, goal: float, at_most: bool) -> None:
        rows.append({"name": name, "what": what, "value": value, "target": goal,
                     "op": "<=" if at_most else ">=", "met": value <= goal if at_most else value >= goal})

    device = result["machine"]["device"]
    for sname, entry in result["settings"].items():
        for m in METHODS[1:]:
            add("adapter_step_ratio", f"{sname}: {m} step / finetune step",
                entry["train"]["ratios"][f"{m}/finetune"], TARGETS["adapter_step_ratio"][sname], True)
        floor = entry["train"]["ratios"].get(f"{FLOOR}/finetune")  # a JSON from before the floor lacks it
        if floor is not None:  # the least an adapter step can cost here, beside the goal (no goal of its own)
            rows.append({"name": "adapter_step_floor", "what": f"{sname}: floor, {FLOOR} step (convolutions "
                         "frozen, no adapter) / finetune step", "value": floor,
                         "target": TARGETS["adapter_step_ratio"][sname], "op": "<=", "met": None})
        add("fused_inference_ratio", f"{sname}: fused / plain inference time",
            entry["inference"]["ratios"]["fused/plain"], TARGETS["fused_inference_ratio"], True)
        add("loader_speedup", f"{sname}: our loader / reference pipeline (images/s)",
            entry["data"]["ratios"]["ours/reference"], TARGETS["loader_speedup"], False)
        if device == "cpu":
            add("cpu_utilization", f"{sname}: finetune training FLOP/s / float32 matmul peak",
                entry["train"]["finetune"]["utilization"], TARGETS["cpu_utilization"], False)
    full = result["settings"].get("full")
    if device == "cuda" and full is not None:
        name = result["machine"].get("device_name", "")
        batch = full["train"]["batch"]
        candidates = {f"{m}, bf16+channels_last": full["train"][m]["images_per_s"] for m in METHODS}
        candidates.update({k: v["images_per_s"] for k, v in full.get("variants", {}).items()
                           if isinstance(v, dict) and "images_per_s" in v})
        label, best = max(candidates.items(), key=lambda kv: kv[1])
        what = f"full, batch {batch}: training images/s, fastest ({label}) on {name}"
        if "H100" in name and batch >= 256:
            add("h100_images_per_s", what, best, TARGETS["h100_images_per_s"], False)
        else:
            rows.append({"name": "h100_images_per_s", "what": what + ": not an H100 at batch 256+",
                         "value": best, "target": TARGETS["h100_images_per_s"], "op": ">=", "met": None})
    return rows


# ---------------------------------------------------------------- Markdown


def _bf16_answer(probe: dict) -> str:
    """The capability probe's answer (core.machine.cpu_bf16), in words."""
    found = [name for name, key in (("AVX512-BF16", "avx512_bf16"), ("AMX-BF16", "amx_bf16")) if probe.get(key)]
    return f"native bf16: {', '.join(found) or 'none'} (probe: {probe.get('source', '?')})"


def bench_markdown(source: str | Path | dict) -> str:
    """The performance tables (docs/performance.md), generated from a bench JSON (a path or the dict)."""
    r = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    m = r["machine"]
    device = m.get("device_name", m.get("processor", "")) if m["device"] == "cuda" else m.get("processor", "cpu")
    load = (f"{m['cpu_count']} CPUs, 1-minute load average {m['loadavg_start'][0]:g} at start and "
            f"{m['loadavg_end'][0]:g} at end" if m.get("loadavg_start") and m.get("loadavg_end")
            else f"{m['cpu_count']} CPUs")
    peak = r["peak"]
    out = [f"Measured by `{r['command']}` on {r['created']}: {m['device']} ({device}), torch {m['torch']}, "
           f"{m['torch_threads']} threads, {load}. Medians of {r['plan']['repeats']} repeats after "
           f"{r['plan']['warmup']} warm-up; ratios are medians of per-round ratios. Matmul peak at the start "
           f"{_g(peak['flop_s'])} GFLOP/s ({peak['dtype']}: torch.mm n = {peak['n']} {_g(peak['mm']['flop_s'])}, "
           f"1x1 conv 4096 x {peak['c']} x {peak['c']} {_g(peak['conv1x1']['flop_s'])}); \"of peak\" is against "
           f"the peak re-measured in the training rounds."
           + (f" The CPU's {_bf16_answer(m['cpu_bf16'])}." if m.get("cpu_bf16") else ""), ""]
    out += ["| setting | method | batch | images/s | step (ms) | step / finetune | GFLOP/image (train) "
            "| GFLOP/s | of peak | step memory (MiB) |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for s, e in r["settings"].items():
        t = e["train"]
        for meth in (m for m in TIMED if m in t):  # a JSON from before parallel_fused or the floor lacks it
            x = t[meth]
            ratio = 1.0 if meth == "finetune" else t["ratios"][f"{meth}/finetune"]
            out.append(f"| {_setting(e)} | {meth} | {t['batch']} | {x['images_per_s']:,.0f} | {1e3 * x['step_s']:.1f} "
                       f"| {ratio:.2f} | {x['train_flops_per_image'] / 1e9:.3f} | {_g(x['train_flop_s'])} "
                       f"| {100 * x['utilization']:.0f}% | {x['memory']['peak_bytes'] / 2**20:,.1f} |")
    out += ["", "| setting | network | batch | images/s | time / plain | GFLOP/image |", "|---|---|--:|--:|--:|--:|"]
    for s, e in r["settings"].items():
        inf = e["inference"]
        for name in ("plain", "unfused", "fused"):
            ratio = 1.0 if name == "plain" else inf["ratios"][f"{name}/plain"]
            out.append(f"| {_setting(e)} | {name} | {inf['batch']} | {inf[name]['images_per_s']:,.0f} | {ratio:.3f} "
                       f"| {inf[name]['forward_flops_per_image'] / 1e9:.3f} |")
    out += ["", "| setting | pipeline | images/s | ours / reference |", "|---|---|--:|--:|"]
    for s, e in r["settings"].items():
        d = e["data"]
        out.append(f"| {_setting(e)} | decoded uint8 cache + batched augmentation ({d['domain']}) "
                   f"| {d['ours']['images_per_s']:,.0f} | {d['ratios']['ours/reference']:.1f} |")
        out.append(f"| {_setting(e)} | PIL JPEG decode + torchvision transforms, DataLoader "
                   f"({d['reference']['workers']} workers) | {d['reference']['images_per_s']:,.0f} | 1.0 |")
        out.append(f"| {_setting(e)} | one-off decode into the cache | {d['ours']['prepare_images_per_s']:,.0f} | |")
    variants = [(e, e["variants"]) for e in r["settings"].values() if "variants" in e]
    if variants:
        out += ["", "| setting | method / variant | images/s | first step (s) |", "|---|---|--:|--:|"]
        for e, v in variants:
            for key, x in v.items():
                if key == "batch":
                    continue
                cells = (f"skipped: {x['error']}", "") if "error" in x else \
                        (f"{x['images_per_s']:,.0f}", f"{x['first_step_s']:.1f}")
                out.append(f"| {_setting(e)} | {key} | {cells[0]} | {cells[1]} |")
    if any("cpu_variants" in e for e in r["settings"].values()):
        out += ["", *cpu_variants_markdown(r)]
    out += ["", "| target | measured | goal | met |", "|---|--:|--:|---|"]
    for t in evaluate_targets(r):  # today's goals (core.TARGETS) against the measurements
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        out.append(f"| {t['what']} | {_num(t['value'])} | {t['op']} {_num(t['target'])} | {met} |")
    return "\n".join(out) + "\n"


def _setting(entry: dict) -> str:
    s = entry["setting"]
    return f"{s['name']} ({s['image']}/{s['crop']} px, w {s['width']:g})"


def _g(flop_s: float) -> str:
    return f"{flop_s / 1e9:,.1f}"


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
