"""A char-LM run as the command line and a notebook share it (rnnlab.runs.charlm)."""

import json

import numpy as np
import pytest

from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.nn import cross_entropy
from rnnlab.runs.charlm import TrainSpec, build_run, load_charlm, text_loss

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


def test_a_spec_fills_the_main_jobs_defaults_and_refuses_bad_values_naming_the_option():
    spec = TrainSpec()
    assert spec.corpus == "python-docs" and spec.minutes == 3.0 and spec.steps is None
    assert TrainSpec(steps=10).minutes is None and TrainSpec(data="x.txt").corpus is None
    for bad, option in (({"dropout": 1.0}, "--dropout"), ({"val_fraction": 0.0}, "--val-fraction"),
                        ({"schedule": "cosine"}, "--schedule"), ({"schedule": "linear"}, "--schedule")):  # fmt: skip
        with pytest.raises(ValueError, match=option):
            TrainSpec(**bad)


def test_a_spec_round_trips_through_run_json_and_an_older_one_loads(tmp_path):
    spec = TrainSpec(data="a.txt", model="gru", hidden=16, steps=7, seed=3)
    spec.save(tmp_path / "run.json")
    assert TrainSpec.from_file(tmp_path / "run.json") == spec
    older = json.loads((tmp_path / "run.json").read_text())
    del older["schedule"]  # run.json of a version before --schedule
    (tmp_path / "run.json").write_text(json.dumps(older))
    assert TrainSpec.from_file(tmp_path / "run.json").schedule == "none"
    with pytest.raises(ValueError, match="no run.json"):
        TrainSpec.from_file(tmp_path / "nowhere" / "run.json")


def test_a_run_built_from_its_spec_trains_saves_and_loads_back(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    lines = []
    spec = TrainSpec(data=str(data), hidden=16, layers=1, embedding=8, seq_len=10, batch=4, steps=6, eval_every=3)
    run = build_run(spec, tmp_path / "run", say=lines.append)
    result = run.trainer.run()
    assert result.steps == 6 and lines[0].startswith(f"{data}: {len(TEXT):,} characters")
    assert [line.split(":")[0] for line in lines[1:]] == ["step 3", "step 6"]  # the evaluations
    assert load_charlm(tmp_path / "run")[1].chars == run.vocab.chars  # the run folder: its best checkpoint
    model, vocab = load_charlm(tmp_path / "run" / "checkpoint-00000006")
    assert vocab.chars == run.vocab.chars and not model.training
    for name, p in run.model.named_parameters():
        np.testing.assert_array_equal(dict(model.named_parameters())[name].data, p.data)


def test_text_loss_in_windows_with_the_state_carried_equals_one_pass():
    vocab_text = "abc \n"
    from rnnlab.data.text import Vocab

    vocab = Vocab.from_text(vocab_text)
    model = CharLM(CharLMConfig(vocab_size=vocab.size, hidden=8, layers=2, embedding=4, dtype="float64"),
                   np.random.default_rng(0))  # fmt: skip
    text = "abc cab\nbca " * 20 + "xyz"  # x, y, z are unknown: left out of the loss
    ids, known = vocab.encode(text)
    logits, _ = model.forward(ids[:-1, None])
    expected, _ = cross_entropy(logits, ids[1:, None], mask=known[1:, None])
    for window in (7, 1000):
        loss = text_loss(model, vocab, text, window=window)
        assert loss.nats == pytest.approx(expected, rel=1e-12)
        assert loss.unknown == 3 and loss.predictions == int(known[1:].sum())
    with pytest.raises(ValueError, match="none of its characters"):
        text_loss(model, vocab, "xyzxyz", source="other.txt")
