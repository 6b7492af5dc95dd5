"""The data-set registry (rnnlab.data.datasets) and `rnnlab data`: found in $RNNLAB_DATA_DIR, in the
cache, or downloaded and checked by SHA-256. Downloads come from a local HTTP server serving a
folder made here; nothing touches the network but the one test marked `network`."""

import functools
import hashlib
import http.server
import json
import os
import socket
import threading
from dataclasses import replace
from urllib.parse import quote

import pytest

from rnnlab import cli
from rnnlab.data import datasets
from rnnlab.data.text import DataError
from rnnlab.experiments import EXPERIMENTS, run_experiment
from rnnlab.experiments.common import Experiment, Option

DATA_DIR = os.environ.get("RNNLAB_DATA_DIR")  # the real files, when the environment has them (CI)
TOY = {"toy/a.txt": b"first file\n" * 50, "toy/b.txt": b"second file\n" * 30}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """An empty cache of the test's own, and no $RNNLAB_DATA_DIR unless a test sets one."""
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNLAB_DATA_DIR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the local server, never through a proxy
    return tmp_path / "cache" / "data"


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder, list of requested paths): an HTTP server on 127.0.0.1 in a thread."""
    site = tmp_path / "site"
    site.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", site, requests
    httpd.shutdown()
    httpd.server_close()


def closed_port_url(path: str = "toy/a.txt") -> str:
    """A URL nobody answers: a port just bound and closed again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


def register(monkeypatch, name: str, files: dict[str, bytes], base: str, root: str) -> datasets.Dataset:
    """A data set `name` of `files` (their names under the data folder), served from `base` under
    'repo files/NAME' (a space in the path, as the sentiment sentences have)."""
    d = datasets.Dataset(
        name,
        f"{name} for tests",
        tuple(
            datasets.File(f, base + quote(f"repo files/{f}"), hashlib.sha256(b).hexdigest(), len(b))
            for f, b in files.items()
        ),
        root,
        "tests/toy@" + "0" * 40,
        "CC0",
        "nobody",
    )
    monkeypatch.setitem(datasets.DATASETS, name, d)
    return d


def serve(site, files: dict[str, bytes]) -> None:
    for f, b in files.items():
        (site / "repo files" / f).parent.mkdir(parents=True, exist_ok=True)
        (site / "repo files" / f).write_bytes(b)


@pytest.fixture
def toy(monkeypatch, server):
    base, site, requests = server
    serve(site, TOY)
    return register(monkeypatch, "toy", TOY, base, "toy")


def files_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_fetch_downloads_each_file_into_the_cache_checked_by_sha256(toy, cache, server):
    assert not datasets.is_cached("toy") and datasets.located("toy") is None
    assert datasets.where("toy").startswith("not here: downloads 0.0 MB into ")
    assert datasets.fetch("toy") == cache / "toy"
    assert {f: (cache / f).read_bytes() for f in TOY} == TOY
    assert files_in(cache) == ["toy", "toy/a.txt", "toy/b.txt"]  # no temporary files left over
    assert datasets.is_cached("toy") and datasets.where("toy") == f"cached: {cache / 'toy'}"
    requests = server[2]
    assert requests == ["/repo%20files/toy/a.txt", "/repo%20files/toy/b.txt"]
    assert datasets.path("toy") == cache / "toy" and datasets.fetch("toy") == cache / "toy"
    assert len(requests) == 2  # found in the cache, checked, not downloaded again


def test_a_cached_file_that_fails_its_check_is_downloaded_again(toy, cache, server):
    datasets.fetch("toy")
    (cache / "toy/a.txt").write_bytes(b"x" * len(TOY["toy/a.txt"]))  # the right size, the wrong bytes
    assert datasets.is_cached("toy")  # using a cached file checks its size only ...
    datasets.fetch("toy")  # ... fetch checks every byte
    assert (cache / "toy/a.txt").read_bytes() == TOY["toy/a.txt"] and len(server[2]) == 3
    (cache / "toy/b.txt").write_bytes(b"short")
    assert not datasets.is_cached("toy")
    assert datasets.path("toy") == cache / "toy" and (cache / "toy/b.txt").read_bytes() == TOY["toy/b.txt"]


def test_a_checksum_mismatch_names_the_file_and_both_checksums_and_leaves_nothing(toy, cache, server):
    (server[1] / "repo files/toy/a.txt").write_bytes(b"another file\n")
    got = hashlib.sha256(b"another file\n").hexdigest()
    with pytest.raises(DataError) as err:
        datasets.fetch("toy")
    message = str(err.value)
    assert message.startswith("toy: ") and "toy/a.txt" in message and toy.files[0].url in message
    assert f"SHA-256 {got}" in message and f"expected {toy.files[0].sha256}" in message
    assert files_in(cache.parent) == []  # neither the download nor the folders made for it


def test_offline_is_one_data_error_naming_the_url_the_file_and_where_to_put_it(monkeypatch, cache):
    url = closed_port_url()
    d = register(monkeypatch, "toy", TOY, "http://unused/", "toy")
    monkeypatch.setitem(datasets.DATASETS, "toy", replace(d, files=(replace(d.files[0], url=url), *d.files[1:])))
    with pytest.raises(DataError) as err:
        datasets.path("toy")
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"toy: cannot download {url} (")
    assert f"put a.txt in {cache / 'toy'}{os.sep} or set RNNLAB_DATA_DIR to a folder holding toy/a.txt" in message
    assert files_in(cache.parent) == []


def test_a_missing_file_on_the_server_is_an_http_error(toy, server, cache):
    (server[1] / "repo files/toy/b.txt").unlink()
    with pytest.raises(
        DataError, match=r"cannot download http://127\.0\.0\.1:\d+/repo%20files/toy/b\.txt \(HTTP 404\)"
    ):
        datasets.fetch("toy")
    assert files_in(cache) == ["toy", "toy/a.txt"]  # the first file came and was right: it stays


def test_rnnlab_data_dir_is_read_first_without_downloading(monkeypatch, tmp_path, cache):
    d = register(monkeypatch, "toy", TOY, "http://unused/", "toy")
    monkeypatch.setitem(
        datasets.DATASETS, "toy", replace(d, files=tuple(replace(f, url=closed_port_url(f.name)) for f in d.files))
    )
    folder = tmp_path / "data"
    serve_to = folder / "toy"
    serve_to.mkdir(parents=True)
    (folder / "toy/a.txt").write_bytes(TOY["toy/a.txt"])
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(folder))
    with pytest.raises(DataError, match="cannot download"):  # half a set there: the cache, then a download
        datasets.path("toy")
    (folder / "toy/b.txt").write_bytes(TOY["toy/b.txt"])
    assert datasets.path("toy") == serve_to.resolve() and datasets.located("toy") == ("RNNLAB_DATA_DIR", serve_to)
    assert datasets.where("toy") == f"in $RNNLAB_DATA_DIR: {serve_to}"
    assert not datasets.is_cached("toy") and files_in(cache.parent) == []
    (folder / "toy/b.txt").write_bytes(b"edited")  # another file under the registered name: said, not skipped
    with pytest.raises(DataError, match=r"toy/b\.txt: has 6 bytes, not the 360 of toy's toy/b\.txt"):
        datasets.path("toy")


def test_every_url_is_pinned_to_the_commit_of_its_source():
    for d in datasets.DATASETS.values():
        repo, _, commit = d.source.partition("@")
        assert len(commit) == 40 and d.licence and d.citation
        for f in d.files:
            assert f.url.startswith(f"https://raw.githubusercontent.com/{repo}/{commit}/"), f.url
            assert " " not in f.url and len(f.sha256) == 64 and f.size > 0
        assert all(f.name.startswith(d.root + "/") for f in d.files) or [f.name for f in d.files] == [d.root]
    assert "%20" in datasets.DATASETS["sentiment"].files[0].url


@pytest.mark.skipif(not DATA_DIR, reason="RNNLAB_DATA_DIR is not set (CI sets it to the real files)")
def test_the_registered_sizes_and_checksums_match_the_files_in_rnnlab_data_dir():
    for d in datasets.DATASETS.values():
        for f in d.files:
            path = os.path.join(DATA_DIR, f.name)
            assert os.path.getsize(path) == f.size, f.name
            assert datasets.sha256(path) == f.sha256, f.name


def test_cli_data_list_path_and_fetch(toy, cache, capsys):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for d in datasets.DATASETS.values():
        assert d.name in out and d.licence in out and d.citation in out
    assert "CC BY 4.0" in out and f"not here: downloads 0.2 MB into {cache / 'sentiment_labelled_sentences'}" in out
    assert f"cache: {cache} ($RNNLAB_CACHE_DIR moves it); $RNNLAB_DATA_DIR: not set" in out

    assert cli.main(["data", "path", "toy", "--no-fetch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rnnlab data fetch toy" in err and str(cache / "toy") in err
    assert cli.main(["data", "path", "toy"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{cache / 'toy'}\n" and "toy: downloading" in captured.err

    assert cli.main(["data", "fetch", "toy"]) == 0
    assert f"toy: {cache / 'toy'} (2 files, SHA-256 checked, already cached)" in capsys.readouterr().out
    assert cli.main(["data", "list"]) == 0
    assert f"cached: {cache / 'toy'}" in capsys.readouterr().out
    for argv, words in (
        (["data", "fetch"], "give --all"),
        (["data", "fetch", "toy", "--all"], "give --all"),
        (["data", "fetch", "toy", "nosuch"], "nosuch: no such data set; choose one of"),
        (["data", "path", "nosuch"], "nosuch: no such data set"),
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, argv


def test_an_experiment_gets_its_data_sets_before_its_run_folder(toy, tmp_path, monkeypatch):
    seen = []

    def run(ctx):
        seen.append(dict(ctx.datasets))
        return {"result": "ok"}, []

    option = Option("data", "a file instead", metavar="DIR")
    monkeypatch.setitem(EXPERIMENTS, "toy", Experiment("toy", "t", "a", (option,), run, ("toy",), ("data",)))
    run_experiment("toy", tmp_path / "run")
    assert seen[-1] == {"toy": datasets.cache_dir() / "toy"}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["datasets"] == {"toy": str(datasets.cache_dir() / "toy")}
    monkeypatch.setitem(datasets.DATASETS, "toy", replace(toy, files=(replace(toy.files[0], url=closed_port_url()),)))
    (datasets.cache_dir() / "toy/a.txt").unlink()  # now only a download would bring the data set
    run_experiment("toy", tmp_path / "own", data="mine.txt")  # the option replaces it: nothing looked up
    assert seen[-1] == {}
    with pytest.raises(DataError, match="cannot download"):
        run_experiment("toy", tmp_path / "failed")
    assert not (tmp_path / "failed").exists()


def test_experiment_without_its_data_offline_exits_2_naming_the_url_and_leaves_no_run_folder(
    monkeypatch, tmp_path, capsys
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(empty))
    d = datasets.DATASETS["sentiment"]
    url = closed_port_url("amazon_cells_labelled.txt")
    monkeypatch.setitem(datasets.DATASETS, "sentiment", replace(d, files=tuple(replace(f, url=url) for f in d.files)))
    assert cli.main(["experiment", "--list"]) == 0
    assert "[downloads sentiment, 0.2 MB]" in capsys.readouterr().out
    out = tmp_path / "run"
    assert cli.main(["experiment", "sentiment", "--quick", "--no-progress", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and url in captured.err and "amazon_cells_labelled.txt" in captured.err
    assert "downloading sentiment (0.2 MB)" in captured.out
    assert not out.exists() and files_in(datasets.cache_dir()) == []


def test_experiment_list_marks_a_cached_data_set(monkeypatch, server, capsys):
    base, site, _ = server
    files = {f"sentiment_labelled_sentences/{n}": b"words\t1\n" for n in ("a_labelled.txt", "readme.txt")}
    serve(site, files)
    register(monkeypatch, "sentiment", files, base, "sentiment_labelled_sentences")
    datasets.fetch("sentiment")
    assert cli.main(["experiment", "--list"]) == 0
    assert "[data: sentiment, cached]" in capsys.readouterr().out


@pytest.mark.network
def test_the_smallest_data_set_downloads_from_its_pinned_url(cache):
    path = datasets.fetch("sentiment")
    assert path == cache / "sentiment_labelled_sentences" and datasets.is_cached("sentiment")
    assert len((path / "amazon_cells_labelled.txt").read_text().splitlines()) == 1000
