"""download (no network here) and the `paperlib data` command line: exit codes and messages."""

import io
import json
import tarfile
import urllib.error
import urllib.request
import zipfile

import pytest

from paperlib.core.errors import DataError
from paperlib.data import check
from paperlib.data.cli import main
from paperlib.data.download import DATA_URL, DEVKIT_URL, download
from paperlib.data.labels import LABELS_URL
from paperlib.data.tiny import write_tiny_tree


def _no_network(url, timeout=None):
    raise urllib.error.URLError("network unreachable")


def _targz(files: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if files.pop("_gz", True) else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Response(io.BytesIO):
    headers = {}


def _serving(archives: dict):
    """An opener that serves the given archives by URL and fails for any other."""
    def opener(url, timeout=None):
        if url not in archives:
            raise urllib.error.URLError(f"no route to {url}")
        return _Response(archives[url])
    return opener


def test_download_without_network_fails_cleanly(tmp_path, capsys):
    assert download(tmp_path, opener=_no_network) == 1
    err = capsys.readouterr().err
    assert DEVKIT_URL in err and DATA_URL in err and "image-net.org" in err
    assert list(tmp_path.iterdir()) == []  # no tree, no staging folder
    with pytest.raises(DataError):
        check(tmp_path)


def test_interrupted_download_leaves_no_tree(tmp_path):
    devkit = _targz({"decathlon-1.0/annotations/aircraft_train.json": b"{}"})
    assert download(tmp_path, opener=_serving({DEVKIT_URL: devkit})) == 1
    assert list(tmp_path.iterdir()) == []


def _labels_zip(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_complete_download_is_renamed_into_place(tmp_path, capsys):
    image = {"id": 10000001, "file_name": "data/aircraft/test/000001.jpg"}
    category = {"id": 10000001, "name": "707"}
    devkit = _targz({"decathlon-1.0/annotations/aircraft_train.json": b"{}",
                     "decathlon-1.0/annotations/aircraft_test_stripped.json":
                         json.dumps({"images": [image], "categories": [category]}).encode()})
    inner = _targz({"aircraft/train/000001.jpg": b"jpeg", "_gz": False})
    data = _targz({"aircraft.tar": inner})
    labelled = {"images": [image], "categories": [category],
                "annotations": [{"id": 1, "image_id": 10000001, "category_id": 10000001}]}
    labels = _labels_zip({"aircraft_test.json": json.dumps(labelled)})
    without_labels = _serving({DEVKIT_URL: devkit, DATA_URL: data})
    assert download(tmp_path / "a", opener=without_labels) == 1  # the data is kept, the labels' step printed
    assert LABELS_URL in capsys.readouterr().err and (tmp_path / "a/decathlon-1.0/annotations").is_dir()
    opener = _serving({DEVKIT_URL: devkit, DATA_URL: data, LABELS_URL: labels})
    assert download(tmp_path / "b", opener=opener) == 0
    tree = tmp_path / "b" / "decathlon-1.0"
    assert (tree / "annotations/aircraft_train.json").is_file()
    assert json.loads((tree / "annotations/aircraft_test.json").read_text()) == labelled
    assert (tree / "data/aircraft/train/000001.jpg").is_file() and not list((tree / "data").glob("*.tar"))
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["decathlon-1.0"]
    assert download(tmp_path / "b", opener=opener) == 1  # never overwrites a tree


def test_cli_exit_codes(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "missing"
    assert main(["check", "--root", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(missing / "decathlon-1.0") in err
    assert main(["prepare", "--root", str(missing), "--cache", str(tmp_path / "c")]) == 2

    root = tmp_path / "root"
    expected = write_tiny_tree(root, domains=("gtsrb",))
    assert main(["check", "--root", str(root)]) == 0
    assert main(["prepare", "--root", str(root), "--cache", str(tmp_path / "c"), "--size", "8",
                 "--workers", "0"]) == 0
    assert "gtsrb" in capsys.readouterr().out
    (root / "decathlon-1.0" / expected[("gtsrb", "test")][0][1]).write_bytes(b"garbage")
    assert main(["check", "--root", str(root)]) == 1
    assert "unreadable image" in capsys.readouterr().out

    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    assert main(["download", "--root", str(tmp_path / "dl")]) == 1
    assert main(["samples", "--root", str(root), "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    with pytest.raises(SystemExit):
        main(["prepare", "--root", str(root)])  # argparse: missing --cache


def test_cli_mini_then_check(tmp_path):
    assert main(["mini", "--out", str(tmp_path), "--scale", "0.01", "--seed", "3"]) == 0
    report = check(tmp_path, workers=0)
    assert report.ok and len(report.splits) == 30


def test_top_level_dispatch(tmp_path):
    from paperlib.cli import main as paperlib_main

    assert paperlib_main(["data", "check", "--root", str(tmp_path)]) == 2
