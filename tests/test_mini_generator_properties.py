"""Properties of the MiniDecathlon generator (data/mini/generate.py, parallel.py) on a tiny tree:
the counts of counts.py, the released layout, each image drawn as its label's class from its own
seed, the generation record of counts.py, the same files on one process or several, and the
handling of an existing tree. Each test generates its own tree (a module fixture would credit
only the first test with reaching the generator)."""

from __future__ import annotations

import io
import json
import os
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from paperlib.core.errors import DataError
from paperlib.data.domains import domain_spec
from paperlib.data.mini import generate as generate_module
from paperlib.data.mini import parallel
from paperlib.data.mini.counts import MiniCounts, generation_id, generation_params
from paperlib.data.mini.generate import SPLIT_CODES, generate_mini, read_generation

DOMAINS = ("svhn", "daimlerpedcls")
COUNTS = {"svhn": MiniCounts(4, 2, 1, 2), "daimlerpedcls": MiniCounts(2, 3, 1, 1)}
TREE = "decathlon-1.0"


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class _Bar:
    """A progress bar that records what it is told."""

    def __init__(self, **kwargs):
        self.kwargs, self.done = kwargs, 0

    def update(self, n):
        self.done += n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_tree_has_the_counted_images_each_drawn_as_its_label(tmp_path, monkeypatch):
    """Each split holds classes x images-per-class of counts.py (the overrides win, the default seed
    and size are counts.py's), every class equally often; files, ids, sizes and annotations follow
    the released COCO layout; every JPEG is its label's class drawn from (seed, domain, split,
    index) at the stated quality; generation.json is counts.py's record; the bar counts every image."""
    bars = []
    monkeypatch.setattr(generate_module, "tqdm", lambda **kw: bars.append(_Bar(**kw)) or bars[-1])
    out = tmp_path / "nested" / "out"
    quality = 70
    assert generate_mini(out, counts=COUNTS, domains=DOMAINS, quality=quality) == out
    root = out / TREE
    assert sorted(p.name for p in out.iterdir()) == [TREE]  # no staging folder left
    params = generation_params(counts=COUNTS, domains=DOMAINS, quality=quality)
    assert read_generation(out) == {**params, "id": generation_id(counts=COUNTS, domains=DOMAINS, quality=quality)}
    assert (params["seed"], params["size"]) == (0, 36)
    total = sum(c.classes * (c.train + c.val + c.test) for c in COUNTS.values())
    (bar,) = bars
    assert bar.kwargs == {"total": total, "desc": "MiniDecathlon", "unit": "img", "disable": None}
    assert bar.done == total
    for domain in DOMAINS:
        spec, c = domain_spec(domain), COUNTS[domain]
        family = parallel.family_for(domain, c.classes, 0, 36)
        ids = []
        for split, code in SPLIT_CODES.items():
            coco = json.loads((root / "annotations" / f"{domain}_{split}.json").read_text())
            assert set(coco) == {"info", "licenses", "images", "annotations", "categories"} and coco["licenses"] == []
            assert set(coco["info"]) == {"description", "version", "year"}
            assert domain in coco["info"]["description"] and split in coco["info"]["description"]
            assert "seed 0" in coco["info"]["description"]
            assert coco["categories"] == [{"id": spec.id_prefix + 1 + k, "name": n} for k, n in enumerate(family.class_names)]
            images, annotations = coco["images"], coco["annotations"]
            per_class = getattr(c, split)
            assert len(images) == len(annotations) == c.classes * per_class
            labels = [a["category_id"] - spec.id_prefix - 1 for a in annotations]
            assert Counter(labels) == {k: per_class for k in range(c.classes)}
            assert [a["image_id"] for a in annotations] == [a["id"] for a in annotations] == [im["id"] for im in images]
            files = sorted(p.name for p in (root / "data" / domain / split).iterdir())
            assert files == [f"{i + 1:06d}.jpg" for i in range(len(images))]
            for i, (im, label) in enumerate(zip(images, labels)):
                assert set(im) == {"id", "file_name", "width", "height"}
                assert im["file_name"] == f"data/{domain}/{split}/{i + 1:06d}.jpg"
                data = (root / im["file_name"]).read_bytes()
                drawn = family.render(label, np.random.default_rng([0, spec.index, code, i]))
                assert data == _jpeg(drawn, quality)
                assert (im["width"], im["height"]) == Image.open(io.BytesIO(data)).size
                assert min(im["width"], im["height"]) == 36
            ids += [im["id"] for im in images]
            if split == "test":
                stripped = json.loads((root / "annotations" / f"{domain}_test_stripped.json").read_text())
                assert stripped["annotations"] == [] and stripped["images"] == images
                assert stripped["info"] == coco["info"] and stripped["categories"] == coco["categories"]
        assert ids == list(range(spec.id_prefix + 1, spec.id_prefix + 1 + len(ids)))  # the domain's id block
    assert not (root / "annotations" / "svhn_TEST.json").exists()


def test_one_or_several_processes_write_the_same_files(tmp_path, monkeypatch):
    """render_split writes the same JPEGs and returns every size, in order, whether its chunks run
    in this process (one worker, or one chunk) or on a pool of min(workers, chunks) processes,
    forked where fork exists (Linux: the class designs reach the workers without pickling); the bar
    counts every image."""
    monkeypatch.setattr(parallel, "CHUNK", 3)
    real = parallel.multiprocessing.get_context
    pools = []

    class _Context:
        def __init__(self, method):
            self.ctx = real(method)

        def Pool(self, n, **kwargs):  # noqa: N802 (multiprocessing's name)
            pools.append(n)
            return self.ctx.Pool(n, **kwargs)

    def context(method=None):
        pools.append(method)
        if method != "fork":  # the family reaches the workers by fork on Linux; refuse before any start
            raise AssertionError(f"a pool started with {method!r}, not fork")
        return _Context(method)

    monkeypatch.setattr(parallel.multiprocessing, "get_context", context)
    domain, classes, seed, size, split, code, quality = "svhn", 4, 5, 36, "train", 1, 90
    labels = [3, 0, 1, 2, 1, 0]  # two chunks
    results = {}
    for workers, n_labels, expect in ((1, 6, []), (2, 6, ["fork", 2]), (3, 6, ["fork", 2]), (2, 3, []), (8, 5, ["fork", 2])):
        tree = tmp_path / f"w{workers}-{n_labels}"
        (tree / "data" / domain / split).mkdir(parents=True)
        bar = _Bar()
        pools.clear()
        sizes = parallel.render_split(tree, domain, classes, seed, size, split, code, labels[:n_labels], quality, workers, bar)
        assert pools == expect, (workers, n_labels)
        assert bar.done == n_labels and len(sizes) == n_labels
        files = sorted((tree / "data" / domain / split).iterdir())
        assert [p.name for p in files] == [f"{i + 1:06d}.jpg" for i in range(n_labels)]
        assert sizes == [Image.open(p).size for p in files]
        results[workers, n_labels] = [p.read_bytes() for p in files]
    assert results[1, 6] == results[2, 6] == results[3, 6]
    assert results[2, 3] == results[1, 6][:3] and results[8, 5] == results[1, 6][:5]


def _chunk_noting_its_sigterm_handler(task):
    """parallel._render_chunk, after a mark in the tree: which SIGTERM handler this process has."""
    handler = "default" if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else "inherited"
    (Path(task[0]) / f"sigterm-{task[-1][0][0]}-{os.getpid()}-{handler}").touch()  # chunk, process
    return _RENDER_CHUNK(task)


_RENDER_CHUNK = parallel._render_chunk


def test_a_worker_takes_the_default_sigterm():
    """The pool's initializer, run here (in a worker it runs where no trace of the tests reaches)."""
    def handler(signum, frame):
        raise AssertionError("unreachable")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        parallel._default_sigterm()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_pools_workers_end_on_sigterm_whatever_the_parents_handler(tmp_path, monkeypatch):
    """Pool.terminate ends the workers with SIGTERM. A forked worker inherits the parent's Python
    handler, which would then run in the worker instead (under mutmut, a fork server's handler that
    kills its other test runs). Each worker takes the default action; the parent keeps its own."""
    monkeypatch.setattr(parallel, "CHUNK", 3)
    monkeypatch.setattr(parallel, "_render_chunk", _chunk_noting_its_sigterm_handler)
    tree = tmp_path / "tree"
    (tree / "data" / "svhn" / "train").mkdir(parents=True)

    def parents_handler(signum, frame):
        raise AssertionError("the parent's SIGTERM handler ran")

    previous = signal.signal(signal.SIGTERM, parents_handler)
    try:
        sizes = parallel.render_split(tree, "svhn", 4, 5, 36, "train", 1, [3, 0, 1, 2, 1, 0], 90, 2, _Bar())
        assert signal.getsignal(signal.SIGTERM) is parents_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    marks = [p.name.split("-") for p in tree.glob("sigterm-*")]
    assert len(sizes) == 6 and len(marks) == 2  # two chunks
    assert all(int(pid) != os.getpid() and handler == "default" for _, _, pid, handler in marks)


def test_default_workers_is_the_usable_cores_at_most_eight(monkeypatch):
    """The generator uses the cores this process may run on, at most eight (the tree is small)."""
    for cores, want in ((1, 1), (3, 3), (8, 8), (16, 8)):
        monkeypatch.setattr(parallel, "usable_cores", lambda c=cores: c)
        assert parallel.default_workers() == want


def test_an_existing_tree_is_kept_stamped_replaced_only_when_forced_and_never_mixed(tmp_path, monkeypatch):
    """Same parameters: kept (an older tree whose stamp has no id gets generation.json); force:
    written again in a hidden sibling and renamed into place; other parameters: DataError naming
    both generations (seed, size, version) and a folder for the new one, and nothing changes."""
    counts = {"svhn": MiniCounts(2, 1, 1, 1)}
    staging = []
    real_mkdtemp = generate_module.tempfile.mkdtemp

    def mkdtemp(**kw):
        staging.append(Path(real_mkdtemp(**kw)))
        return str(staging[-1])

    monkeypatch.setattr(generate_module.tempfile, "mkdtemp", mkdtemp)
    out = tmp_path / "mini"
    kw = {"size": 32, "scale": 2.0, "counts": counts, "domains": ("svhn",)}
    generate_mini(out, seed=3, **kw)
    assert read_generation(out) == {**generation_params(3, **kw), "id": generation_id(3, **kw)}
    assert len(staging) == 1 and staging[0].parent == out and staging[0].name.startswith(f".{TREE}")
    root = out / TREE
    record = read_generation(out)
    # an older tree: the legacy stamp, without an id
    (root / "generation.json").unlink()
    legacy = dict(record)
    legacy.pop("id")
    (root / "mini.json").write_text(json.dumps(legacy))
    assert read_generation(out) is None
    generate_mini(out, seed=3, **kw)
    assert read_generation(out) == record and len(staging) == 1
    marker = root / "data" / "svhn" / "train" / "000001.jpg"
    before = marker.read_bytes()
    marker.write_bytes(b"damaged")
    generate_mini(out, seed=3, force=True, **kw)
    assert marker.read_bytes() == before and read_generation(out) == record
    assert sorted(p.name for p in out.iterdir()) == [TREE]
    new_id = generation_id(4, **kw)
    with pytest.raises(DataError) as err:
        generate_mini(out, seed=4, **kw)
    message = str(err.value)
    assert f"seed 3, size 32, version {record['version']}" in message
    assert f"seed 4, size 32, version {record['version']}" in message
    assert str(tmp_path / f"mini-{new_id}") in message and str(root) in message
    assert read_generation(out) == record


def test_the_same_identity_makes_the_same_tree(tmp_path):
    """counts.py gives a domain named twice the identity of the domain named once ("two
    generations share an id exactly when they make the same tree"), so both make the same files."""
    counts = {"svhn": MiniCounts(2, 1, 1, 1)}
    assert generation_id(counts=counts, domains=("svhn", "svhn")) == generation_id(counts=counts, domains=("svhn",))
    trees = [generate_mini(tmp_path / name, counts=counts, domains=domains) / TREE
             for name, domains in (("once", ("svhn",)), ("twice", ("svhn", "svhn")))]
    files = [{p.relative_to(t).as_posix(): p.read_bytes() for p in sorted(t.rglob("*")) if p.is_file()} for t in trees]
    assert files[0] == files[1] and len(files[0]) > 5


def test_without_fork_the_pool_is_spawned_and_writes_the_same_files(tmp_path, monkeypatch):
    """Where fork does not exist (Windows), the pool's workers are spawned, each building the class
    designs again from the seed, and the split's files and sizes are those of one process. The
    pool is stood in for by one that runs its tasks here, in order (a spawned process would import
    the package again: seconds)."""
    monkeypatch.setattr(parallel, "CHUNK", 3)
    monkeypatch.setattr(parallel.multiprocessing, "get_all_start_methods", lambda: ["spawn", "forkserver"])
    started = []

    class _Pool:
        def __init__(self, n, **kwargs):
            started.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def imap(self, func, tasks):
            return map(func, tasks)

    class _Context:
        def __init__(self, method=None):
            started.append(method)

        def Pool(self, n, **kwargs):  # noqa: N802 (multiprocessing's name)
            return _Pool(n, **kwargs)

    monkeypatch.setattr(parallel.multiprocessing, "get_context", _Context)
    labels = [2, 0, 1, 3, 1]  # two chunks
    got = {}
    for workers in (1, 4):
        tree = tmp_path / f"w{workers}"
        (tree / "data" / "svhn" / "val").mkdir(parents=True)
        bar = _Bar()
        sizes = parallel.render_split(tree, "svhn", 4, 7, 36, "val", 2, labels, 90, workers, bar)
        files = sorted((tree / "data" / "svhn" / "val").iterdir())
        assert [p.name for p in files] == [f"{i + 1:06d}.jpg" for i in range(len(labels))] and bar.done == len(labels)
        assert sizes == [Image.open(p).size for p in files]
        got[workers] = [p.read_bytes() for p in files]
    assert started == ["spawn", 2]  # one pool, spawned, of min(workers, chunks) processes
    assert got[1] == got[4]
