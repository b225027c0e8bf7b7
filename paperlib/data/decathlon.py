"""Reader for the Visual Decathlon ``decathlon-1.0`` layout (docs/authors_code.md, "data layout").

    ROOT/decathlon-1.0/annotations/<name>_{train,val,test_stripped}.json   (COCO style)
    ROOT/decathlon-1.0/annotations/<name>_test.json      (labelled test, separate archive)
    ROOT/decathlon-1.0/<file_name>                        e.g. data/aircraft/test/000001.jpg

Category id = domain index * 10**7 + 1-based class; label = category_id - min(category ids of
the domain). Labels are matched to images by ``image_id`` (not by list position), and every
inconsistency is reported at once in a single-line ``DataError``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from paperlib.core.errors import DataError
from paperlib.data.domains import DOMAINS, ID_BASE, domain_spec

TREE = "decathlon-1.0"
SPLITS = ("train", "val", "trainval", "test")
FILE_SPLITS = ("train", "val", "test")  # the splits that have their own annotation file


def split_parts(split: str) -> tuple[str, ...]:
    """The annotation files a split reads: trainval is train, then val."""
    return ("train", "val") if split == "trainval" else (split,)

MAX_LISTED = 3  # problems quoted in one error line; the rest are counted

def how_to_get_data(root: object) -> str:
    """The remedy appended to every "not found" message (docs/authors_code.md: the data comes from the
    Decathlon site; the miniature is generated locally)."""
    return (f"get the data with `paperlib data download --root {root}` "
            f"or make the miniature with `paperlib data mini --out {root}`")



@dataclass(frozen=True)
class SplitIndex:
    """The images of one domain and split as listed by the annotation file(s)."""

    domain: str
    split: str
    tree: Path  # ROOT/decathlon-1.0; file names are relative to it
    file_names: tuple[str, ...]
    image_ids: np.ndarray  # int64 (N,)
    labels: np.ndarray  # int64 (N,), -1 where unlabelled (stripped test)
    class_names: tuple[str, ...]
    annotation_files: tuple[Path, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def __len__(self) -> int:
        return len(self.file_names)

    def path(self, i: int) -> Path:
        return self.tree / self.file_names[i]


def tree_dir(root: str | Path) -> Path:
    """``ROOT/decathlon-1.0``; a missing one raises DataError naming it and the remedy."""
    root = Path(root)
    tree = root / TREE
    if not tree.is_dir():
        hint = " (pass its parent folder as the root)" if root.name == TREE else ""
        raise DataError(f"Decathlon tree {tree} not found{hint}: {how_to_get_data(root)}")
    return tree


def annotation_path(root: str | Path, domain: str, split: str, *, test_labels: bool = True) -> Path:
    """The annotation file of a split; for test, the labelled ``_test.json`` when present (and
    `test_labels`), else ``_test_stripped.json``. Missing file: DataError naming the expected path."""
    if split not in FILE_SPLITS:
        raise ValueError(f"split {split!r} has no annotation file; choose one of {FILE_SPLITS}")
    domain_spec(domain)
    folder = tree_dir(root) / "annotations"
    if split == "test":
        labelled = folder / labelled_test_name(domain)
        if test_labels and labelled.is_file():
            return labelled
        path = folder / f"{domain}_test_stripped.json"
    else:
        path = folder / f"{domain}_{split}.json"
    if not path.is_file():
        raise DataError(f"annotation file {path} not found: {how_to_get_data(Path(root))}")
    return path


def labelled_test_name(domain: str) -> str:
    """The labelled test file of a domain, as the authors' labels archive names it."""
    return f"{domain}_test.json"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_json(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise DataError(f"annotation file {path} is unreadable: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"annotation file {path} is not COCO style (no 'images' list)")
    return data


def _fail(path: Path, problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise DataError(f"{path}: " + "; ".join(problems[:MAX_LISTED]) + more)


def _categories(data: dict, domain: str, path: Path) -> tuple[int, tuple[str, ...]]:
    """(smallest category id, class names in label order); checks the domain prefix."""
    index = domain_spec(domain).index
    cats = sorted((int(c["id"]), str(c.get("name", c["id"]))) for c in data.get("categories") or [])
    problems = [f"category id {cid} is not of domain {domain} (prefix {index})"
                for cid, _ in cats if cid // ID_BASE != index]
    ids = [cid for cid, _ in cats]
    if ids and ids != list(range(ids[0], ids[0] + len(ids))):
        problems.append(f"category ids are not contiguous ({ids[0]}..{ids[-1]}, {len(ids)} ids)")
    _fail(path, problems)
    return (ids[0] if ids else index * ID_BASE + 1), tuple(name for _, name in cats)


def _parse(data: dict, domain: str, path: Path, labelled: bool, first_cat: int,
           num_classes: int) -> tuple[list[str], list[int], list[int]]:
    problems: list[str] = []
    names, ids = [], []
    for img in data["images"]:
        try:
            image_id, name = int(img["id"]), str(img["file_name"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"image entry without id/file_name: {str(img)[:60]}")
            continue
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts:
            problems.append(f"file_name {name!r} is not relative to {TREE}/")
        names.append(name)
        ids.append(image_id)
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} duplicate image ids")
    labels = [-1] * len(ids)
    if labelled:
        position = {image_id: i for i, image_id in enumerate(ids)}
        seen = set()
        valid = range(first_cat, first_cat + num_classes)
        for ann in data.get("annotations") or []:
            image_id, cid = int(ann.get("image_id", -1)), ann.get("category_id")
            if image_id not in position:
                problems.append(f"annotation for unknown image id {image_id}")
                continue
            if cid is None or int(cid) not in valid:
                problems.append(f"category id {cid} of image {image_id} is not a {domain} "
                                f"category ({first_cat}..{first_cat + num_classes - 1})")
                continue
            label = int(cid) - first_cat
            if image_id in seen and labels[position[image_id]] != label:
                problems.append(f"image {image_id} has conflicting category ids")
            seen.add(image_id)
            labels[position[image_id]] = label
        if len(seen) < len(ids):
            problems.append(f"{len(ids) - len(seen)} images without an annotation")
    _fail(path, problems)
    return names, ids, labels


def test_labels_problems(root: str | Path, domain: str, labelled: dict | None = None) -> list[str]:
    """What keeps a labelled test file (`labelled`, default: the tree's ``<domain>_test.json``)
    from standing for the released ``<domain>_test_stripped.json``: the same image ids with the
    same file names, no id twice, one annotation per image, every category id one of the domain's
    classes (those of the stripped file, else of the train split). Empty where it is sound, or
    where the tree has no stripped file to hold it against."""
    folder = tree_dir(root) / "annotations"
    stripped_path = folder / f"{domain}_test_stripped.json"
    if not stripped_path.is_file():
        return []
    if labelled is None:
        try:
            labelled = _load_json(folder / labelled_test_name(domain))
        except DataError as err:
            return [str(err)]
    stripped = _load_json(stripped_path)
    classes = stripped.get("categories") or _load_json(annotation_path(root, domain, "train")).get("categories")
    return compare_test_labels(labelled, stripped, {int(c["id"]) for c in classes or []}, stripped_path.name)


def compare_test_labels(labelled: dict, stripped: dict, category_ids: set[int], stripped_name: str) -> list[str]:
    """`test_labels_problems` on the files' contents, each problem with a few example ids."""
    names, ids = _images(labelled)
    released, _ = _images(stripped)
    annotations = [a for a in labelled.get("annotations") or [] if isinstance(a, dict)]
    annotated = Counter(_as_int(a.get("image_id")) for a in annotations)
    own = {_as_int(c.get("id")) for c in labelled.get("categories") or [] if isinstance(c, dict)}
    checks = [
        ([i for i, n in Counter(ids).items() if n > 1], "image id(s) listed more than once"),
        (set(released) - set(names), f"image(s) of {stripped_name} missing"),
        (set(names) - set(released), f"image id(s) that {stripped_name} does not list"),
        ([i for i in set(names) & set(released) if names[i] != released[i]],
         f"image(s) with another file name than in {stripped_name}"),
        ([i for i, n in annotated.items() if n > 1], "image id(s) annotated more than once"),
        (set(annotated) - set(names), "annotation(s) of an image id the file does not list"),
        (set(names) - set(annotated), "image(s) without an annotation"),
        ([a.get("category_id") for a in annotations if _as_int(a.get("category_id")) not in category_ids],
         f"category id(s) not of the domain's classes ({_span(category_ids)})"),
    ]
    problems = [f"{len(found)} {what} (e.g. {_examples(found)})" for found, what in checks if found]
    if own and own != category_ids:
        problems.append(f"its categories ({_span(own)}, {len(own)}) are not the domain's "
                        f"({_span(category_ids)}, {len(category_ids)})")
    return problems


def _as_int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _images(data: dict) -> tuple[dict[int | None, str], list[int | None]]:
    """{image id: file name} and the ids in file order (repeats kept)."""
    entries = [im for im in data.get("images") or [] if isinstance(im, dict)]
    return ({_as_int(im.get("id")): str(im.get("file_name")) for im in entries},
            [_as_int(im.get("id")) for im in entries])


def _span(ids: set) -> str:
    known = [i for i in ids if i is not None]
    return f"{min(known)}..{max(known)}" if known else "none"


def _examples(values) -> str:
    values = sorted(values, key=str)
    return ", ".join(map(str, values[:MAX_LISTED])) + (", ..." if len(values) > MAX_LISTED else "")


def read_file_split(root: str | Path, domain: str, split: str, *, test_labels: bool = True) -> SplitIndex:
    """One of train / val / test, read from its own annotation file. A labelled test file is read
    only where it covers exactly the released (stripped) test split (`test_labels_problems`), so
    no label that fails that check is used: DataError naming the file and each problem.
    `test_labels=False` reads the stripped file even where the labelled one is present."""
    path = annotation_path(root, domain, split, test_labels=test_labels)
    data = _load_json(path)
    labelled = not path.name.endswith("_stripped.json")
    if split == "test" and labelled and (problems := test_labels_problems(root, domain, data)):
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise DataError(f"{path}: " + "; ".join(problems[:MAX_LISTED]) + more + ": its labels are not used; "
                        f"remove it to read {domain}_test_stripped.json, or place sound labels "
                        f"(`paperlib data labels FILE --root ROOT`)")
    if not data.get("categories") and split == "test":
        # a stripped file may omit categories: the classes are those of the train split
        data = dict(data, categories=_load_json(annotation_path(root, domain, "train"))
                    .get("categories"))
    first_cat, classes = _categories(data, domain, path)
    if labelled and not classes:
        _fail(path, ["no categories"])
    names, ids, labels = _parse(data, domain, path, labelled, first_cat, len(classes))
    return SplitIndex(domain=domain, split=split, tree=tree_dir(root), file_names=tuple(names),
                      image_ids=np.asarray(ids, dtype=np.int64),
                      labels=np.asarray(labels, dtype=np.int64),
                      class_names=classes, annotation_files=(path,))


def read_split(root: str | Path, domain: str, split: str) -> SplitIndex:
    """train, val, test, or trainval (train then val, concatenated)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if split != "trainval":
        return read_file_split(root, domain, split)
    train, val = (read_file_split(root, domain, s) for s in ("train", "val"))
    return SplitIndex(domain=domain, split=split, tree=train.tree,
                      file_names=train.file_names + val.file_names,
                      image_ids=np.concatenate([train.image_ids, val.image_ids]),
                      labels=np.concatenate([train.labels, val.labels]),
                      class_names=train.class_names,
                      annotation_files=train.annotation_files + val.annotation_files)


def available_domains(root: str | Path) -> tuple[str, ...]:
    """The domains (in DOMAINS order) that have a train annotation file under ROOT."""
    folder = tree_dir(root) / "annotations"
    return tuple(d for d in DOMAINS if (folder / f"{d}_train.json").is_file())
