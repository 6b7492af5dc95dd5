"""A run folder's run.json edited by hand or by a hostile user: every key deleted, nulled, or given
a value of the wrong type or an absurd size, then `rnnlab predict` and `rnnlab evaluate` on it.
Each gives its answer or one line on stderr with exit 2, never a traceback (issue 17: "run.json
missing a key -> KeyError"; the mutations found an IndexError, an AttributeError and two
OverflowErrors more)."""

import copy
import importlib.util
import json

import pytest

from rnnlab import cli
from rnnlab.data.examples import write_examples

pytestmark = pytest.mark.backend_free  # CI's second pass (RNNLAB_COMPILED=0) leaves these out
MUTATIONS = ("delete", None, "x", 10**19)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runfile")
    paths = {p.name: p for p in write_examples(root / "examples")}
    reviews = root / "reviews.tsv"
    reviews.write_text(
        "text\tlabel\n" + "".join(f"{'good fine' if i % 2 else 'bad poor'} film {i}\t{i % 2}\n" for i in range(40))
    )
    fits = {
        "classify": (reviews, reviews),
        "tag": (paths["tags-train.conll"], paths["tags-test.conll"]),
        "forecast": (paths["monthly-train.csv"], paths["monthly-test.csv"]),
    }
    sizes = {}
    if importlib.util.find_spec("matplotlib"):  # rendered lines as PNG files, and Pillow to read them
        fits["ocr"] = (line_images(root / "lines"),) * 2
        sizes["ocr"] = ["--height", "16", "--hidden", "4", "--layers", "1"]
    made = {}
    for task, (train, test) in fits.items():
        out = root / task
        args = ["fit", task, "--data", str(train), "--steps", "2", "--out", str(out), *sizes.get(task, [])]
        assert cli.main([*args, "--no-progress"]) == 0
        made[task] = (out, test)
    return made


def line_images(folder):
    """Six rendered lines as PNG files and labels.csv (file,text) beside them."""
    from PIL import Image

    from rnnlab.data.images import rendered_lines

    folder.mkdir()
    images, texts = rendered_lines(6, ("DejaVuSans",), 0, 1, 3, "abc", 16)
    for k, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{k}.png")
    (folder / "labels.csv").write_text("file,text\n" + "".join(f"{k}.png,{t}\n" for k, t in enumerate(texts)))
    return folder / "labels.csv"


def mutants(record: dict):
    """(where, what, mutated record) for every key at depth 1 to 3 and every mutation."""

    def walk(node, path):
        for key in list(node):
            yield path + [key]
            if isinstance(node[key], dict) and len(path) < 2:
                yield from walk(node[key], path + [key])

    for path in walk(record, []):
        for value in MUTATIONS:
            mutated = copy.deepcopy(record)
            node = mutated
            for key in path[:-1]:
                node = node[key]
            if value == "delete":
                del node[path[-1]]
            else:
                node[path[-1]] = value
            yield ".".join(path), value, mutated


@pytest.mark.parametrize("task", ["classify", "tag", "forecast", "ocr"])
def test_every_mutation_of_run_json_is_an_answer_or_one_line(runs, task, capsys):
    if task not in runs:
        pytest.skip("ocr runs read images through Pillow, which comes with matplotlib (the plot extra)")
    run, test = runs[task]
    inputs = test.parent / "0.png" if task == "ocr" else test  # predict reads an image, evaluate the labels
    original = (run / "run.json").read_text()
    failures = []
    try:
        for where, value, mutated in mutants(json.loads(original)):
            (run / "run.json").write_text(json.dumps(mutated))
            for command in (["predict", str(run), str(inputs)], ["evaluate", str(run), "--data", str(test)]):
                try:
                    code = cli.main(command)
                except Exception as err:  # noqa: BLE001 - a traceback is the failure being looked for
                    failures.append(f"{where} = {value!r}: {command[0]} raised {type(err).__name__}: {err}")
                    continue
                err = capsys.readouterr().err.strip()
                if code not in (0, 2) or (code == 2 and (len(err.splitlines()) != 1 or not err.startswith("rnnlab"))):
                    failures.append(f"{where} = {value!r}: {command[0]} exit {code}: {err[:300]}")
    finally:
        (run / "run.json").write_text(original)
    assert not failures, "\n".join(failures[:10])
