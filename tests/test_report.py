"""`rnnlab runs` (a table of run folders, hostile ones included) and `rnnlab report` (one
self-contained HTML page) on two char-LM runs trained for two steps."""

import csv
import io
import json
import os
import re
import shutil

import pytest

from rnnlab import cli
from rnnlab.runs.folders import find_runs, read_run, runs_table
from rnnlab.runs.report import report_html
from rnnlab.train.runlock import hold_run

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


def train(data, out, model, hidden):
    argv = ["train", "--data", str(data), "--out", str(out), "--model", model, "--steps", "2", "--hidden", str(hidden)]
    argv += ["--layers", "1", "--embedding", "4", "--seq-len", "8", "--batch", "2", "--eval-every", "1"]
    assert cli.main([*argv, "--no-progress"]) == 0


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """runs/{lstm,gru}: two finished two-step runs; runs/broken: a run.json that is not JSON."""
    folder = tmp_path_factory.mktemp("report")
    data = folder / "text.txt"
    data.write_text(TEXT)
    runs = folder / "runs"
    train(data, runs / "lstm", "lstm", 8)
    train(data, runs / "cmp" / "gru", "gru", 6)
    (runs / "broken").mkdir()
    (runs / "broken" / "run.json").write_text("{not json")
    return runs


def test_runs_lists_both_runs_and_says_why_a_broken_folder_is_unreadable(root, capsys):
    capsys.readouterr()
    assert cli.main(["runs", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "task", "model", "best", "steps", "wall", "status"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"lstm", "cmp/gru", "broken"}
    assert "lstm 1x8" in rows["lstm"] and "gru 1x6" in rows["cmp/gru"]
    for name in ("lstm", "cmp/gru"):
        assert re.search(r"val_nats \d\.\d{4}\s+2\s+(\d+ s|\d+:\d\d)\s+finished$", rows[name]), rows[name]
    assert "unreadable: run.json: the file is not valid JSON" in rows["broken"]
    assert lines[-1].startswith("broken")  # unreadable rows last


def test_runs_csv_and_json_carry_every_field(root, capsys):
    capsys.readouterr()
    assert cli.main(["runs", str(root), "--format", "json"]) == 0
    records = {r["run"]: r for r in json.loads(capsys.readouterr().out)}
    lstm = records["lstm"]
    assert lstm["task"] == "lm" and lstm["metric"] == "val_nats" and lstm["steps"] == 2
    assert lstm["status"] == "finished" and lstm["best"] <= lstm["final"] and lstm["best_step"] in (1, 2)
    assert lstm["data"].endswith("text.txt") and lstm["wall_seconds"] >= 0
    assert cli.main(["runs", str(root), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["run"] for r in rows} == set(records) and rows[-1]["status"].startswith("unreadable")


def test_runs_status_running_while_the_lock_is_held_interrupted_before_the_budget(root, tmp_path):
    with hold_run(root / "lstm"):
        assert read_run(root / "lstm").status == "running"
    assert read_run(root / "lstm").status == "finished"
    copy = tmp_path / "copy"
    shutil.copytree(root / "lstm", copy, symlinks=True)
    config = json.loads((copy / "config.json").read_text())
    config["train"]["max_steps"] = 10  # as if the run had been stopped at step 2 of 10
    (copy / "config.json").write_text(json.dumps(config))
    assert read_run(copy).status == "interrupted"
    with open(copy / "metrics.jsonl", "a") as f:
        f.write("garbage\n")
    assert read_run(copy).status == "broken: 1 line(s) of metrics.jsonl are not records"


def test_runs_never_crashes_on_hostile_folders(root, tmp_path, capsys):
    hostile = tmp_path / "hostile"
    shutil.copytree(root / "lstm", hostile / "fifo", symlinks=True)
    (hostile / "fifo" / "metrics.jsonl").unlink()
    os.mkfifo(hostile / "fifo" / "metrics.jsonl")  # open() of a FIFO would block forever
    (hostile / "link").mkdir()
    (hostile / "link" / "run.json").symlink_to("/etc/hostname")  # outside the folder
    (hostile / "deep").mkdir()
    (hostile / "deep" / "run.json").write_text("[" * 100_000)
    (hostile / "list").mkdir()
    (hostile / "list" / "run.json").write_text("[1, 2]")
    (hostile / "loop").mkdir()
    (hostile / "loop" / "me").symlink_to(hostile / "loop")  # never followed
    capsys.readouterr()
    assert cli.main(["runs", str(hostile)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"fifo", "link", "deep", "list"}
    assert "unreadable: metrics.jsonl is not a regular file" in rows["fifo"]
    assert "outside" in rows["link"] and "unreadable" in rows["deep"]
    assert "unreadable: run.json is not a JSON object" in rows["list"]
    assert runs_table([], hostile).split() == ["run", "task", "model", "best", "steps", "wall", "status"]


def test_runs_of_a_missing_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["runs", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err


def test_each_evaluation_logs_a_sample(root):
    records = [json.loads(line) for line in (root / "lstm" / "metrics.jsonl").read_text().splitlines()]
    samples = [r for r in records if r.get("event") == "sample"]
    assert [r["step"] for r in samples] == [r["step"] for r in records if r.get("event") == "eval"]
    assert all(isinstance(r["text"], str) and r["text"] for r in samples)


def page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_report_is_one_self_contained_page_with_both_runs_curves_and_the_config_diff(root, tmp_path, capsys):
    out = tmp_path / "cmp.html"
    capsys.readouterr()
    assert cli.main(["report", str(root / "lstm"), str(root / "cmp" / "gru"), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)  # nothing fetched
    assert "<link" not in page and not re.search(r"<script[^>]*\ssrc=", page)
    data = page_data(page)
    assert [r["name"] for r in data["runs"]] == ["lstm", "gru"]
    for run in data["runs"]:
        assert [s for s, _ in run["train"]] == [1, 2] and [s for s, _ in run["evals"]] == [1, 2]
        assert run["metric"] == "val_nats"
    diff = page.split("<h2>Config diff</h2>")[1].split("<h2>")[0]
    changed = re.findall(r"<tr><td>([^<]+)</td>((?:<td class=\"diff\">[^<]*</td>)+)</tr>", diff)
    assert {key for key, _ in changed} == {"model", "hidden"}
    assert dict(changed)["model"] == '<td class="diff">lstm</td><td class="diff">gru</td>'
    assert "seq_len" in diff.split("<details>")[1]  # the same in both: folded away
    assert "rnnlab train --data" in page and "--model gru --hidden 6" in page
    assert page.count("<h2>Samples</h2>") == 1 and "2 sample(s)" in page


def test_report_writes_next_to_one_run_or_into_the_current_folder(root, tmp_path, monkeypatch, capsys):
    single = tmp_path / "single"
    shutil.copytree(root / "lstm", single, symlinks=True)
    assert cli.main(["report", str(single)]) == 0
    assert (single / "report.html").is_file()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", str(root / "lstm"), str(single)]) == 0
    assert [r["name"] for r in page_data((tmp_path / "report.html").read_text())["runs"]] == ["lstm", "single"]


def test_report_escapes_what_a_hostile_run_folder_holds(root, tmp_path):
    run = tmp_path / "<img src=x onerror=alert(2)>"
    shutil.copytree(root / "lstm", run, symlinks=True)
    evil = "</script><script>alert(1)</script><!--"
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 2, "event": "sample", "text": evil}) + "\n")
    page = report_html([read_run(run)])
    assert "<script>alert" not in page and "<img" not in page and page.count("</script>") == 2
    assert page_data(page)["runs"][0]["name"] == run.name
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # the sample, shown as text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "{tmp}/nowhere"], "no such run folder"),
        (["report", "{root}/lstm", "--out", "{tmp}/no/such/folder/r.html"], "there is no folder"),
        (["report", "{root}/lstm", "--out", "{tmp}"], "is a folder"),
        (["report", "{tmp}"], "neither run.json nor the config.json of a Trainer"),
        (["report", "{root}/broken"], "run.json: the file is not valid JSON"),
    ],
)
def test_report_refuses_bad_input_in_one_line(root, tmp_path, capsys, argv, message):
    capsys.readouterr()
    assert cli.main([a.format(tmp=tmp_path, root=root) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_find_runs_skips_checkpoints_and_hidden_folders(root):
    assert [p.relative_to(root).as_posix() for p in find_runs(root)] == ["broken", "cmp/gru", "lstm"]


def test_a_fit_run_gets_its_row_and_every_reconstructed_command_parses(root, tmp_path, capsys):
    import shlex

    rows = ["text,label"] + [
        f"{'good great' if i % 2 else 'bad awful'} {i},{'pos' if i % 2 else 'neg'}" for i in range(40)
    ]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "cls"
    argv = ["fit", "classify", "--data", str(tmp_path / "d.csv"), "--out", str(run), "--steps", "3", "--hidden", "4"]
    assert cli.main([*argv, "--no-progress"]) == 0
    info = read_run(run)
    assert (info.kind, info.task, info.model, info.metrics.score_name) == (
        "fit",
        "classify",
        "lstm 1x4 bi",
        "val_error_rate",
    )
    assert info.status == "finished" and info.metrics.last_step == 3
    for each in (info, read_run(root / "lstm"), read_run(root / "cmp" / "gru")):
        words = shlex.split(each.command)
        args = cli.parser().parse_args(words[1:])  # a usage error would exit
        assert words[0] == "rnnlab" and args.out == str(each.path)
        assert args.hidden == each.config.get("hidden", each.config.get("params.hidden"))
