"""The checkpoint fuzzer (tests/checkpoint_fuzz.py) as part of the suite: 2,000 seeded mutants of real
checkpoints, loaded the ways `rnnlab sample` and `rnnlab resume` load them, must each be refused
cleanly or load exactly what was saved; and the fuzzer's machinery is shown to be honest (a good copy
loads identical, a flipped weight is refused, a loader that lies, hangs or hogs memory is caught)."""

import time
from pathlib import Path

import checkpoint_fuzz as fuzz
import numpy as np
import pytest

from rnnlab.data.text import Vocab
from rnnlab.models.charlm import CharLM, CharLMConfig
from rnnlab.runs.charlm import load_charlm
from rnnlab.train.safetensors import CheckpointError

pytestmark = pytest.mark.backend_free  # CI's second pass (RNNLAB_COMPILED=0) leaves these out
SUITE_MUTANTS, SUITE_SEED = 2000, 0
SUITE_DEADLINE = 300  # seconds; a run without violations takes about a minute, this bounds one gone wrong


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    return fuzz.make_references(tmp_path_factory.mktemp("fuzz-references"))


def fuzz_run(references, tmp_path, **settings) -> fuzz.FuzzReport:
    return fuzz.run_fuzz(references, fuzz.FuzzSettings(**settings), tmp_path)


def test_checkpoint_loading_survives_the_fuzzer(references, tmp_path):
    report = fuzz_run(
        references, tmp_path, mutants=SUITE_MUTANTS, seed=SUITE_SEED, deadline=SUITE_DEADLINE, max_timeouts_per_kind=1
    )
    print(f"{report.table()}\n\n{report.summary()}")
    violations = report.violations()
    assert not violations, (
        f"{len(violations)} loads break their rule; reproduce one with the command shown "
        f"(add --keep DIR to keep the mutant):\n{report.examples()}\n\n{report.table()}\n\n{report.summary()}"
    )
    not_run = [r for r in report.results if r.outcome == "not_run"]
    assert not not_run, f"{len(not_run)} loads were not run: {not_run[0].message}"
    assert len(report.results) == 2 * SUITE_MUTANTS


def test_an_unchanged_copy_loads_identical(references, tmp_path):
    report = fuzz_run(references, tmp_path, only="raw/control.copy", mutants=4)
    assert [r.outcome for r in report.results] == ["identical"] * 8
    assert {r.reference for r in report.results} == {"lstm", "gru"}
    assert not report.violations()


def test_a_flipped_weight_bit_is_a_checkpoint_error(references, tmp_path):
    report = fuzz_run(references, tmp_path, only="raw/control.flip_weight", mutants=4)
    assert [r.outcome for r in report.results] == ["checkpoint_error"] * 8, report.examples()
    assert all(r.file == "model.safetensors" and "model.safetensors" in r.message for r in report.results)


# Broken loaders, at module level so that the spawned workers can import them by name. Each loads
# the original checkpoint (whose fingerprint is the reference) correctly and misbehaves on mutants,
# which the workers make in folders named "mutant".


def is_mutant(folder) -> bool:
    return Path(folder).parent.name == "mutant"


def forgiving_sample_load(folder):
    """Swallows the error a corrupted checkpoint raises and gives a fresh model instead."""
    try:
        return load_charlm(folder)
    except CheckpointError:
        return CharLM(CharLMConfig(vocab_size=3, hidden=4, layers=1, embedding=2)), Vocab("abc")


def hanging_sample_load(folder):
    if is_mutant(folder):
        time.sleep(60)
    return load_charlm(folder)


def greedy_sample_load(folder):
    if is_mutant(folder):
        np.ones(300 * 2**20, dtype=np.uint8)  # 300 MB, over the 100 MB a checkpoint of 60 KB may take
    return load_charlm(folder)


def test_a_loader_that_swallows_errors_is_reported(references, tmp_path):
    report = fuzz_run(
        references, tmp_path, only="raw/control.flip_weight", mutants=2, sample_loader=forgiving_sample_load
    )
    sample = [r for r in report.results if r.path == "sample"]
    assert [r.outcome for r in sample] == ["changed", "changed"]
    assert all("model.weights" in r.message and "changed is not allowed" in r.violation for r in sample)
    assert {r.outcome for r in report.results if r.path == "resume"} == {"checkpoint_error"}


def test_a_hanging_loader_times_out_and_the_run_goes_on(references, tmp_path):
    started = time.monotonic()
    report = fuzz_run(
        references,
        tmp_path,
        only="raw/control.copy",
        mutants=3,
        load_timeout=1.0,
        max_timeouts_per_kind=2,
        sample_loader=hanging_sample_load,
    )
    # each hang is retried without tracemalloc (and hangs again), each time in a fresh worker; after
    # the second the kind is not loaded again
    assert [(r.path, r.outcome, r.traced) for r in report.results] == [
        ("sample", "timeout", False),
        ("resume", "identical", True),
        ("sample", "timeout", False),
        ("resume", "not_run", True),
        ("sample", "not_run", True),
        ("resume", "not_run", True),
    ]
    assert len(report.violations()) == 2
    assert time.monotonic() - started < 60


def test_a_loader_that_hogs_memory_is_reported(references, tmp_path):
    report = fuzz_run(references, tmp_path, only="raw/control.copy", mutants=1, sample_loader=greedy_sample_load)
    sample, resume = report.results
    assert sample.outcome == "memory" and sample.peak >= 300 * 2**20 > sample.allowed, sample.describe()
    assert "the load gave identical" in sample.message
    assert resume.outcome == "identical"
