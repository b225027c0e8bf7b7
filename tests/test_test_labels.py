"""The Decathlon's test labels (the authors' labels_test.zip): placed from an archive or a download
(a local file served by URL: no network here), checked against the released stripped files with
each mismatch named by its file, never used when they fail, and scoring a submission locally."""

import io
import json
import shutil
import urllib.error
import zipfile

import numpy as np
import pytest

from paperlib.core.errors import DataError
from paperlib.data import check, prepare, read_split
from paperlib.data.cache import PrepareError, split_labelled
from paperlib.data.decathlon import read_file_split
from paperlib.data.cli import main
from paperlib.data.domains import DOMAINS, domain_spec
from paperlib.data.download import download_labels
from paperlib.data.dryrun import write_real_format_tree
from paperlib.data.labels import LABELS_URL, archive_members, place_labels
from paperlib.data.submission import check_submission, write_submission

SOME = ("dtd", "svhn", "omniglot")


@pytest.fixture(scope="module")
def labelled_tree(tmp_path_factory):
    """A released-form tree with the labelled test files of the authors' archive beside the stripped ones."""
    return write_real_format_tree(tmp_path_factory.mktemp("labelled"), per_split=4, size=16,
                                  source_covers_classes=False, seed=3)


def _copy(tree, tmp_path):
    return shutil.copytree(tree, tmp_path / "root")


def _annotations(root):
    return root / "decathlon-1.0" / "annotations"


def _edit(root, domain, change):
    path = _annotations(root) / f"{domain}_test.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _archive(root, path, *, folder="", edit=None) -> bytes:
    """labels_test.zip as the authors' (the ten <domain>_test.json at its top), from a tree's files."""
    with zipfile.ZipFile(path, "w") as z:
        for domain in DOMAINS:
            data = json.loads((_annotations(root) / f"{domain}_test.json").read_text())
            if edit and domain in edit:
                edit[domain](data)
            z.writestr(f"{folder}{domain}_test.json", json.dumps(data))
    return path.read_bytes()


def test_the_generated_labels_are_in_the_authors_form_and_check_clean(labelled_tree):
    ann = _annotations(labelled_tree)
    dtd = json.loads((ann / "dtd_test.json").read_text())
    assert set(dtd) == {"info", "images", "annotations", "categories", "licenses"}
    assert set(dtd["annotations"][0]) == {"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd"}
    stripped = json.loads((ann / "dtd_test_stripped.json").read_text())
    assert [im["id"] for im in stripped["images"]] == [im["id"] for im in dtd["images"]]
    report = check(labelled_tree, SOME, decode=False)
    assert report.ok, report.format()
    assert all(s.labelled for s in report.splits if s.split == "test")
    assert "test labels for 3 of 3 domain(s)" in report.format()
    test = read_split(labelled_tree, "dtd", "test")
    truth = {a["image_id"]: a["category_id"] - domain_spec("dtd").id_prefix - 1 for a in dtd["annotations"]}
    assert test.labelled and test.labels.tolist() == [truth[i] for i in test.image_ids.tolist()]


@pytest.mark.parametrize("fault, said", [
    (lambda d: d["images"].pop(1), "image(s) of dtd_test_stripped.json missing"),
    (lambda d: d["annotations"][0].update(category_id=99), "category id(s) not of the domain's classes"),
    (lambda d: d["images"].append(dict(d["images"][0])), "image id(s) listed more than once"),
    (lambda d: d["annotations"].append(dict(d["annotations"][2])), "annotated more than once"),
    (lambda d: d["images"][0].update(file_name="data/dtd/test/other.jpg"), "another file name"),
])
def test_each_mismatch_is_named_with_its_file_and_its_labels_are_not_used(labelled_tree, tmp_path, fault, said):
    root = _copy(labelled_tree, tmp_path)
    path = _edit(root, "dtd", fault)
    report = check(root, ["dtd", "svhn"], decode=False)
    assert report.problems and all(str(path) in p for p in report.problems)  # each named with its file
    assert any(said in p for p in report.problems), report.problems
    assert "dtd_test_stripped.json (unlabelled; dtd_test.json rejected)" in report.format()
    assert "test labels for 1 of 2 domain(s)" in report.format()
    with pytest.raises(DataError, match="its labels are not used") as err:
        read_split(root, "dtd", "test")
    assert str(path) in str(err.value) and said in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PrepareError) as failed:  # nothing that fails the check reaches the cache
        prepare(root, tmp_path / "cache", ["dtd", "svhn"], ["test"], size=8, workers=0)
    assert [m["domain"] for m in failed.value.manifests] == ["svhn"] and str(path) in failed.value.problems[0]
    assert not read_file_split(root, "dtd", "test", test_labels=False).labelled


def test_the_archive_is_placed_after_its_check(labelled_tree, tmp_path):
    root = _copy(labelled_tree, tmp_path)
    originals = {d: (_annotations(root) / f"{d}_test.json").read_bytes() for d in DOMAINS}
    archive = tmp_path / "labels_test.zip"
    _archive(root, archive, folder="labels_test/")  # one folder inside the archive is fine too
    assert set(archive_members(archive)) == set(DOMAINS)
    for d in DOMAINS:
        (_annotations(root) / f"{d}_test.json").unlink()
    assert not split_labelled(root / "cache", DOMAINS)
    report = place_labels(archive, root)
    assert report.ok and len(report.placed) == 10, report.format()
    assert {d: (_annotations(root) / f"{d}_test.json").read_bytes() for d in DOMAINS} == originals
    assert read_split(root, "svhn", "test").labelled

    for d in DOMAINS:
        (_annotations(root) / f"{d}_test.json").unlink()
    _archive(labelled_tree, archive, edit={"gtsrb": lambda d: d["annotations"].pop()})
    report = place_labels(archive, root)
    assert len(report.placed) == 9 and len(report.problems) == 1
    assert "gtsrb_test.json" in report.problems[0] and "image(s) without an annotation" in report.problems[0]
    assert not (_annotations(root) / "gtsrb_test.json").exists()  # refused, not placed
    (tmp_path / "not.zip").write_text("html error page")
    with pytest.raises(DataError, match="not.zip"):
        place_labels(tmp_path / "not.zip", root)


class _Response(io.BytesIO):
    headers = {}


def test_download_fetches_the_authors_archive_and_places_it(labelled_tree, tmp_path, capsys):
    assert LABELS_URL == "https://raw.githubusercontent.com/srebuffi/residual_adapters/master/labels_test.zip"
    served = _archive(labelled_tree, tmp_path / "served.zip")
    root = _copy(labelled_tree, tmp_path)
    for d in DOMAINS:
        (_annotations(root) / f"{d}_test.json").unlink()
    asked = []

    def opener(url, timeout=None):
        asked.append(url)
        if url != LABELS_URL:
            raise urllib.error.URLError(f"no route to {url}")
        return _Response(served)

    assert download_labels(root, opener=opener) == 0 and asked == [LABELS_URL]
    assert all((_annotations(root) / f"{d}_test.json").is_file() for d in DOMAINS)
    assert sorted(p.name for p in root.iterdir()) == ["decathlon-1.0"]  # the archive was not left behind

    def offline(url, timeout=None):
        raise urllib.error.URLError("network unreachable")

    capsys.readouterr()
    assert download_labels(root, opener=offline) == 1
    err = capsys.readouterr().err
    assert LABELS_URL in err and f"paperlib data labels labels_test.zip --root {root}" in err


def test_cli_places_an_archive(labelled_tree, tmp_path, capsys):
    archive = tmp_path / "labels_test.zip"
    _archive(labelled_tree, archive)
    root = _copy(labelled_tree, tmp_path)
    (_annotations(root) / "aircraft_test.json").unlink()
    assert main(["labels", str(archive), "--root", str(root)]) == 0
    assert "10 labelled test file(s) placed" in capsys.readouterr().out
    assert (_annotations(root) / "aircraft_test.json").is_file()
    assert main(["labels", str(archive), "--root", str(tmp_path / "nowhere")]) == 2


def test_the_prepared_cache_says_whether_the_test_split_is_labelled(labelled_tree, tmp_path):
    root = _copy(labelled_tree, tmp_path)
    prepare(root, tmp_path / "cache", SOME, ["test"], size=8, workers=0)
    assert split_labelled(tmp_path / "cache", SOME) and not split_labelled(tmp_path / "cache", ("aircraft",))
    (_annotations(root) / "dtd_test.json").unlink()  # back to the release: the entry is rebuilt unlabelled
    prepare(root, tmp_path / "cache", SOME, ["test"], size=8, workers=0)
    assert not split_labelled(tmp_path / "cache", SOME) and split_labelled(tmp_path / "cache", ("svhn",))


def test_a_submission_is_scored_where_the_test_split_is_labelled(labelled_tree, tmp_path):
    rng = np.random.default_rng(7)
    predictions, truth = {}, {}
    for domain in SOME:
        test = read_split(labelled_tree, domain, "test")
        wrong = rng.random(len(test)) < 0.5
        guess = np.where(wrong, (test.labels + 1) % test.num_classes, test.labels)
        predictions[domain], truth[domain] = (test.image_ids, guess), 100.0 * (~wrong).mean()
    path = write_submission(tmp_path / "sub.json", predictions)
    report = check_submission(path, labelled_tree, SOME)
    assert report.ok and report.accuracy == pytest.approx(truth)
    assert "top-1 %" in report.format()
    stripped = _copy(labelled_tree, tmp_path)
    for d in SOME:
        (_annotations(stripped) / f"{d}_test.json").unlink()
    unscored = check_submission(path, stripped, SOME)
    assert unscored.ok and unscored.accuracy == {} and "top-1 %" not in unscored.format()
