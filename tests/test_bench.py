"""paperlib bench: the FLOP counter against hand counts, and a tiny end-to-end run (no speed
assertions: the machine is shared, so only the shape and sanity of the report are checked)."""

import json
import math

import pytest
import torch
from torch import nn

from paperlib.bench.core import SCHEMA, TIMED, Plan, base_method, build_model, profile_setting
from paperlib.bench.main import bench_variants, main, parse_args, plan_from_args
from paperlib.bench.memory import step_memory
from paperlib.bench.report import bench_markdown, evaluate_targets
from paperlib.model.adapters import adapted_convs, fuse_adapters
from paperlib.model.resnet import ResNet26
from paperlib.model.sizes import count_macs


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """OpenMP barriers stall for whole time slices when other jobs share the cores: one thread
    keeps these tests at a few seconds on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def resnet26_macs_by_hand(width: float, classes: int, side: int) -> int:
    """docs/authors_code.md, ResNet-26: stem 3x3 3->32w at full resolution; three stages of 4 BasicBlocks (8 convs)
    at widths 64w, 128w, 256w, the first conv of each with stride 2; then Linear(256w, classes)."""
    stem, *stages = [int(c * width) for c in (32, 64, 128, 256)]
    macs = side * side * stem * 3 * 9
    c_in = stem
    for c in stages:
        side //= 2
        macs += side * side * c * c_in * 9  # first conv, stride 2
        macs += 7 * side * side * c * c * 9  # the 7 others
        c_in = c
    return macs + c_in * classes


def test_flops_of_a_single_conv_and_linear():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
    assert count_macs(conv, torch.zeros(2, 3, 16, 16))["total"] == (8 * 8) * 8 * 3 * 9
    grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4)
    assert count_macs(grouped, torch.zeros(1, 8, 10, 10))["conv"] == (10 * 10) * 16 * 2 * 9
    linear = nn.Linear(7, 5)
    assert count_macs(linear, torch.zeros(3, 7)) == {"conv": 0, "linear": 35, "adapter": 0, "total": 35}


def test_flops_of_plain_resnet26_at_64_pixels():
    model = ResNet26.build([("cifar100", 10)])
    macs = count_macs(model, torch.zeros(1, 3, 64, 64), domain="cifar100")
    assert macs["total"] == resnet26_macs_by_hand(1.0, 10, 64) == 852_888_064
    assert macs["linear"] == 2560 and macs["adapter"] == 0


def test_flops_of_parallel_adapters_unfused_and_fused():
    model = ResNet26.build([("a", 10)], width=0.25, adapter="parallel")
    x = torch.zeros(1, 3, 32, 32)
    unfused = count_macs(model, x, domain="a")
    # each of the 25 3x3 convs has a 1x1 adapter with its in/out channels and stride: 1/9 of it
    assert unfused["conv"] == resnet26_macs_by_hand(0.25, 10, 32) - 64 * 10
    assert unfused["adapter"] * 9 == unfused["conv"]
    fused = count_macs(fuse_adapters(model, "a"), x, domain="a")
    assert fused["adapter"] == 0 and fused["conv"] == unfused["conv"]


def _numbers(tree, path=""):
    """Every number in a JSON tree with its path (booleans excluded)."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield path, tree


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert main(["--quick", "--device", "cpu", "--threads", "1", "--out", str(out)]) == 0
    return out


def test_quick_run_writes_every_section(quick_run):
    result = json.loads(quick_run.read_text())
    assert not list(quick_run.parent.glob(".*.tmp"))  # written atomically: no temporary left
    assert result["schema"] == SCHEMA and result["machine"]["device"] == "cpu"
    assert result["peak"]["flop_s"] > 0
    entry = result["settings"]["smoke"]
    for method in TIMED:  # the methods and the floor
        t = entry["train"][method]
        for key in ("step_s", "images_per_s", "train_flops_per_image", "train_flop_s", "utilization"):
            assert t[key] > 0, (method, key)
        assert t["train_flops_per_image"] == 3 * t["forward_flops_per_image"]
        assert t["memory"]["peak_bytes"] > 0 and t["memory"]["method"]
    assert set(entry["train"]["ratios"]) == {"parallel/finetune", "parallel_fused/finetune", "series/finetune",
                                             "bn/finetune"}
    flops = {m: entry["train"][m]["train_flops_per_image"] for m in ("parallel", "parallel_fused")}
    assert flops["parallel_fused"] == flops["parallel"]  # the same nominal work
    assert "cpu_variants" not in entry  # --quick skips them
    assert set(entry["inference"]["ratios"]) == {"fused/plain", "unfused/plain"}
    assert entry["inference"]["fused_max_rel_diff"] < 1e-4
    flops = {k: entry["inference"][k]["forward_flops_per_image"] for k in ("plain", "unfused", "fused")}
    assert flops["fused"] == flops["plain"] < flops["unfused"]
    data = entry["data"]
    for name in ("ours", "reference"):
        assert data[name]["images_per_s"] > 0
    assert data["ours"]["prepare_s"] > 0 and data["ratios"]["ours/reference"] > 0
    names = {t["name"] for t in result["targets"]}
    assert names == {"adapter_step_ratio", "adapter_step_floor", "fused_inference_ratio", "loader_speedup",
                     "cpu_utilization"}
    floor = [t for t in result["targets"] if t["name"] == "adapter_step_floor"]
    assert [t["met"] for t in floor] == [None]  # shown beside the goal, never judged
    for path, value in _numbers(result):
        assert math.isfinite(value), path
        if not path.endswith(("fused_max_rel_diff", "warmup", "workers", "rss_peak_bytes")) and "loadavg" not in path:
            assert value > 0, path


def test_markdown_renders_every_table(quick_run, capsys):
    text = bench_markdown(quick_run)
    for heading in ("| setting | method |", "| setting | network |", "| setting | pipeline |", "| target |"):
        assert heading in text
    assert "parallel" in text and "fused" in text and "PIL JPEG" in text
    assert "| bn |" in text  # the floor's row, and beside the goal, unjudged:
    assert any(line.startswith("| smoke: floor, bn step") and line.endswith("| n/a |") for line in text.splitlines())
    assert main(["--markdown", str(quick_run)]) == 0
    assert capsys.readouterr().out == text


def test_markdown_goes_into_the_named_readme_block(quick_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- begin:bench -->\nold\n<!-- end:bench -->\n<!-- begin:bench-h100 -->\nold\n"
                      "<!-- end:bench-h100 -->\n")
    assert main(["--markdown", str(quick_run), "--readme", str(readme), "--block", "bench-h100"]) == 0
    cpu_block, gpu_block = readme.read_text().split("<!-- begin:bench-h100 -->")
    assert "old" in cpu_block and "| target |" not in cpu_block  # the default block is left alone
    assert "| target |" in gpu_block and "old" not in gpu_block


def test_compile_failure_is_recorded_not_raised(monkeypatch):
    def broken(model, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    plan = Plan(device="cpu", settings=("smoke",), batch=4, warmup=0, repeats=1)
    result = bench_variants(profile_setting("smoke"), plan, methods=("parallel",))
    assert result["parallel/bf16+channels_last+compile"]["error"] == "RuntimeError: no compiler here"
    assert result["parallel/fp32"]["images_per_s"] > 0


def test_command_line_errors(tmp_path):
    with pytest.raises(SystemExit):
        parse_args(["--quick"])  # no --out
    with pytest.raises(SystemExit):
        parse_args(["--repeats", "0", "--out", str(tmp_path / "x.json")])
    plan = plan_from_args(parse_args(["--quick", "--device", "cpu", "--out", "x.json"]))
    assert plan.settings == ("smoke",) and not plan.variants
    plan = plan_from_args(parse_args(["--device", "cpu", "--out", "x.json"]))
    assert plan.settings == ("mini", "full")


def test_cpu_step_memory_sees_a_known_allocation():
    def step():  # 40 MB live at once, then freed
        x = torch.ones(10_000_000)
        x.sum()

    memory = step_memory(step, "cpu", nn.Linear(1, 1))
    assert 40_000_000 <= memory["peak_bytes"] < 41_000_000, memory


def test_cuda_report_renders_variants_and_the_h100_target(quick_run):
    """The CUDA-only parts of the report, from a CPU run relabelled (no GPU needed)."""
    result = json.loads(quick_run.read_text())
    result["machine"].update(device="cuda", device_name="NVIDIA H100 80GB HBM3")
    full = json.loads(json.dumps(result["settings"]["smoke"]))
    full["setting"].update(name="full", image=72, crop=64, width=1.0)
    full["train"]["batch"] = 256
    full["variants"] = {"batch": 256,
                        "parallel/bf16+channels_last": {"step_s": 0.01, "samples_s": [0.01], "images_per_s": 35_600.0,
                                                        "first_step_s": 0.5},
                        "parallel/bf16+channels_last+compile": {"error": "RuntimeError: no compiler"}}
    result["settings"] = {"full": full}
    result["targets"] = evaluate_targets(result)
    h100 = [t for t in result["targets"] if t["name"] == "h100_images_per_s"]
    assert len(h100) == 1 and h100[0]["value"] == 35_600.0 and h100[0]["met"] is True
    assert "cpu_utilization" not in {t["name"] for t in result["targets"]}
    text = bench_markdown(result)
    assert "skipped: RuntimeError: no compiler" in text and "35,600" in text and "NVIDIA H100" in text


def test_parallel_fused_runs_the_fused_function_and_parallel_does_not():
    setting = profile_setting("smoke")
    for method, expected in (("parallel", False), ("parallel_fused", True)):
        model = build_model(method, setting).set_domain("cifar100")
        assert base_method(method) == "parallel"
        assert all(conv.runs_fused() == expected for _, conv in adapted_convs(model))


def test_cpu_variants_are_timed_against_eager(monkeypatch):
    """threads 1 / 2, channels_last, compile (replaced by the identity here: compiling takes
    minutes), each with its ratio to eager; compile gets its cost and break-even step count."""
    from paperlib.bench.cpu import CPU_VARIANTS, bench_cpu_variants, cpu_variants_markdown

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: model)
    plan = Plan(device="cpu", settings=("smoke",), batch=4, warmup=0, repeats=2, min_sample_s=0.0)
    result = bench_cpu_variants(profile_setting("smoke"), plan,
                                          methods=("finetune", "parallel_fused"))
    assert result["batch"] == 4 and torch.get_num_threads() == result["run_threads"]
    assert result["ratios_to_finetune"].keys() == {f"parallel_fused/{name}" for name in CPU_VARIANTS}
    series = result["ratios_to_finetune"]["parallel_fused/threads1+channels_last"]
    assert series == pytest.approx(result["parallel_fused/threads1+channels_last"]["step_s"]
                                   / result["finetune/threads1+channels_last"]["step_s"])
    for name in CPU_VARIANTS:
        x = result[f"parallel_fused/{name}"]
        assert x["images_per_s"] > 0 and x["ratio_to_eager"] > 0 and len(x["samples_s"]) == 2
    compiled = result["parallel_fused/compile"]
    assert compiled["compile_s"] == pytest.approx(compiled["first_step_s"] - compiled["step_s"])
    assert compiled["break_even_steps"] is None or compiled["break_even_steps"] * compiled["gain_per_step_s"] \
        == pytest.approx(compiled["compile_s"])
    text = "\n".join(cpu_variants_markdown({"settings": {"smoke": {
        "setting": {"name": "smoke", "image": 36, "crop": 32, "width": 0.125}, "cpu_variants": result}}}))
    assert "parallel_fused/threads2" in text and "break-even" in text
    assert f"| {series:.2f} |" in text  # the adapter / finetuning column


def test_markdown_of_a_json_without_parallel_fused(quick_run):
    """A bench JSON of an earlier run has no parallel_fused row and no floor: it still renders."""
    result = json.loads(quick_run.read_text())
    train = result["settings"]["smoke"]["train"]
    del train["parallel_fused"], train["bn"], train["ratios"]["bn/finetune"]
    text = bench_markdown(result)
    assert "| parallel_fused |" not in text and "| bn |" not in text and "floor" not in text
