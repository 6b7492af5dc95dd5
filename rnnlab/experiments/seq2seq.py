"""The lectures' experiments II: encoder-decoder seq2seq, the bottleneck, and attention.

Each experiment trains the same encoder-decoder twice, without attention (the decoder sees the
source only through the encoder's final state: the bottleneck) and with additive attention
(Bahdanau et al. 2015), and reads both on held-out data:

  dates      human-readable dates in 12 formats -> ISO 8601 (held-out calendar days), exact match
             and per-token accuracy; an attention heat map
  translate  English -> French, Tatoeba pairs of up to 10 English words, as words or characters
             (--unit); corpus BLEU on held-out English sentences (all their French translations
             as references), unsmoothed as the anchor's and exp-smoothed, exact match, BLEU by
             source length; example translations
  reverse    reverse a random string; accuracy by length

Each model's folder (MODEL/, a Trainer run with best/ and last/ checkpoints) also holds what
`rnnlab translate MODEL "text"` needs: the task config in its checkpoints names the model, both
vocabularies and how text is split into tokens.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..data.seq2seq import (
    DATE_FORMATS,
    TokenVocab,
    date_split,
    dates,
    load_pairs,
    reverse_pairs,
    tokenize_words,
)
from ..estimators.seq2seq import build_vocab, decode
from ..models.metrics import corpus_bleu, exact_match, token_accuracy
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig, scheduled_inputs, teacher_forcing_ratio
from ..nn import cross_entropy
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import MINUTES, SAMPLING, Experiment, Fit, Option, SupervisedTask, fit, positive_int

VARIANTS = ("no-attention", "attention")


UNIT_NAMES = {"char": "chars", "chars": "chars", "word": "words", "words": "words"}


def unit_name(unit: str) -> str:
    """A token unit as this experiment's models store it: "chars" (also "char") or "words" (also
    "word"); anything else is a ValueError."""
    if unit not in UNIT_NAMES:
        raise ValueError(f"unit must be 'chars' (or 'char') or 'words' (or 'word'), got {unit!r}")
    return UNIT_NAMES[unit]


def tokens_of(text: str, unit: str) -> list[str]:
    """How a model of this experiment splits text: "chars" or "words" (tokenize_words)."""
    return list(text) if unit_name(unit) == "chars" else tokenize_words(text)


def join_tokens(tokens: list[str], unit: str) -> str:
    return "".join(tokens) if unit_name(unit) == "chars" else " ".join(tokens)


class Seq2SeqTask(SupervisedTask):
    """A Task for rnnlab.train.Trainer: batches of (source, target) token lists from `sample(rng,
    n)`, cross-entropy masked over the padded targets, teacher forcing with a scheduled-sampling
    ratio (`sampling`: a teacher_forcing_ratio schedule over `total` steps), evaluate() -> score
    (lower is better)."""

    def __init__(
        self,
        model: Seq2Seq,
        src_vocab: TokenVocab,
        tgt_vocab: TokenVocab,
        sample,
        evaluate,
        unit: str,
        batch: int,
        total: int,
        sampling: str = "constant",
        sampling_end: float = 0.75,
        config: dict | None = None,
    ):
        super().__init__(model, batch=None, loss=None, evaluate=evaluate, config=config)
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.sample, self.unit, self.batch = sample, unit_name(unit), batch
        self.total, self.sampling, self.sampling_end = total, sampling, sampling_end

    def train_step(self, step: int, rng: np.random.Generator) -> float:
        src_seqs, tgt_seqs = self.sample(rng, self.batch)
        src, src_lengths = self.src_vocab.encode(src_seqs)
        tgt_in, tgt_out, tgt_lengths = self.tgt_vocab.encode_target(tgt_seqs)
        ratio = teacher_forcing_ratio(step, self.total, self.sampling, self.sampling_end)
        tgt_in = scheduled_inputs(self.model, src, src_lengths, tgt_in, tgt_lengths, ratio, rng)
        logits = self.model.forward(src, src_lengths, tgt_in, tgt_lengths)
        mask = np.arange(tgt_in.shape[0])[:, None] < tgt_lengths[None, :]
        loss, dlogits = cross_entropy(logits, tgt_out, mask=mask)
        self.model.backward(dlogits)
        return loss

    def config(self) -> dict:
        return {
            "seq2seq": {
                "model": self.model.config.to_json(),
                "src_vocab": self.src_vocab.to_json(),
                "tgt_vocab": self.tgt_vocab.to_json(),
                "unit": self.unit,
            },
            "batch": self.batch,
            "sampling": self.sampling,
            "sampling_end": self.sampling_end,
            **self._config,
        }


def validation_loss(model: Seq2Seq, src_vocab, tgt_vocab, src_seqs, tgt_seqs, batch: int = 256) -> float:
    """Teacher-forced cross-entropy per target token (nats), EOS included."""
    total = count = 0.0
    for k in range(0, len(src_seqs), batch):
        src, src_lengths = src_vocab.encode(src_seqs[k : k + batch])
        tgt_in, tgt_out, tgt_lengths = tgt_vocab.encode_target(tgt_seqs[k : k + batch])
        mask = np.arange(tgt_in.shape[0])[:, None] < tgt_lengths[None, :]
        loss, _ = cross_entropy(model.forward(src, src_lengths, tgt_in, tgt_lengths), tgt_out, mask=mask)
        total += loss * mask.sum()
        count += mask.sum()
    return total / count


def train_pair(
    ctx, make_config, src_vocab, tgt_vocab, sample, evaluate_with, unit: str, how: Fit, batch: int, extra: dict
):
    """Train the model without and with attention; returns {variant: model at its best checkpoint}."""
    models = {}
    sampling = ctx.options.get("sampling") or "constant"
    for variant in VARIANTS:
        config = make_config(variant == "attention")
        model = Seq2Seq(config, np.random.default_rng(ctx.seed))
        total = how.steps or 10_000
        task = Seq2SeqTask(
            model,
            src_vocab,
            tgt_vocab,
            sample,
            lambda m=model: evaluate_with(m),
            unit,
            batch,
            total,
            sampling,
            config=extra,
        )
        n_params = sum(p.data.size for p in model.parameters())
        ctx.say(
            f"training {variant}: {config.cell} encoder {'2x' if config.bidirectional else ''}"
            f"{config.hidden}, {config.decoder_cell} decoder {config.decoder_hidden}"
            f"{', ' + config.attention + ' attention' if config.attention else ''}; {n_params} parameters"
        )
        started = time.perf_counter()
        result, scores = fit(task, ctx.out.path / variant, how)
        seconds = time.perf_counter() - started
        if (ctx.out.path / variant / "best").is_dir():
            load_weights_into(model, load_checkpoint(ctx.out.path / variant / "best"))
        ctx.out.log(
            event="trained",
            model=variant,
            steps=result.steps,
            stop_reason=result.stop_reason,
            best_score=result.best_score,
            seconds=round(seconds, 1),
            parameters=n_params,
        )
        model.eval()
        models[variant] = (
            model,
            {
                "steps": result.steps,
                "seconds": round(seconds, 1),
                "stop_reason": result.stop_reason,
                "parameters": n_params,
                "validation": [[int(k), float(v)] for k, v in scores],
            },
        )
    return models


def _heatmap(ctx, name, examples, title):
    """One panel per (source tokens, output tokens, weights (len(out)+1, len(src)))."""
    with ctx.out.figure(name, ncols=len(examples), figsize=(4.5 * len(examples), 4.2)) as plot:
        if plot is None:
            return
        fig, axes = plot
        for ax, (src, out, w) in zip(np.atleast_1d(axes), examples):
            ax.imshow(w, cmap="viridis", aspect="auto", vmin=0, vmax=1)
            ax.set_xticks(range(len(src)), src, fontsize=7, rotation=90 if max(map(len, src)) > 1 else 0)
            ax.set_yticks(range(len(out) + 1), list(out) + ["<eos>"], fontsize=7)
            ax.set_xlabel("source")
            ax.set_ylabel("output")
        fig.suptitle(title, fontsize=9)


# --- dates -------------------------------------------------------------------------------------------
def run_dates(ctx):
    quick = ctx.quick
    rng = np.random.default_rng(ctx.seed)
    train_days, held_days = date_split(rng)
    val_days, test_days = held_days[::2], held_days[1::2]
    src_vocab = TokenVocab.build(list(s) for s in dates(20000, np.random.default_rng(ctx.seed + 7))[0])
    tgt_vocab = TokenVocab(list("0123456789-"))
    val_src, val_tgt = dates(100 if quick else 500, np.random.default_rng(ctx.seed + 1), val_days)
    test_src, test_tgt, fmt_of = dates(
        240 if quick else 2000, np.random.default_rng(ctx.seed + 2), test_days, with_formats=True
    )
    fmt_of = np.array(fmt_of)
    val_src = [list(s) for s in val_src]
    ctx.say(
        f"{len(DATE_FORMATS)} formats, {len(train_days)} training days, {len(val_days)} validation "
        f"and {len(test_days)} test days never seen in training; source vocabulary {src_vocab.size}"
    )

    def sample(rng, n):
        human, iso = dates(n, rng, train_days)
        return [list(s) for s in human], [list(s) for s in iso]

    def error(model):
        out, _ = decode(model, src_vocab, tgt_vocab, val_src, max_len=12)
        return 1.0 - exact_match(out, [list(t) for t in val_tgt])

    hidden = 24 if quick else 64

    def config(attention):
        return Seq2SeqConfig(
            src_vocab.size,
            tgt_vocab.size,
            embedding=16 if quick else 32,
            cell="gru",
            hidden=hidden,
            bidirectional=True,
            decoder_cell="gru",
            decoder_hidden=2 * hidden,
            attention="additive" if attention else None,
            attention_size=hidden,
        )

    minutes = ctx.options.get("minutes") or (None if quick else 5.0)
    how = Fit(
        steps=300 if quick else 20_000,
        minutes=minutes,
        lr=3e-3,
        clip=1.0,
        eval_every=150 if quick else 250,
        target=None if quick else 0.002,
        progress=ctx.progress,
        seed=ctx.seed,
        score_name="error rate",
    )
    models = train_pair(ctx, config, src_vocab, tgt_vocab, sample, error, "chars", how, 64, {"experiment": "dates"})

    results, lines = (
        {},
        ["| model | exact match | per-token accuracy | steps | training time |", "|---|---|---|---|---|"],
    )
    references = [list(t) for t in test_tgt]
    formats = list(DATE_FORMATS)
    for variant, (model, info) in models.items():
        out, weights = decode(model, src_vocab, tgt_vocab, [list(s) for s in test_src], max_len=12)
        em, acc = exact_match(out, references), token_accuracy(out, references)
        by_format = {
            formats[k]: exact_match(
                [out[i] for i in np.flatnonzero(fmt_of == k)], [references[i] for i in np.flatnonzero(fmt_of == k)]
            )
            for k in range(len(formats))
            if (fmt_of == k).any()
        }
        results[variant] = {"exact_match": em, "token_accuracy": acc, "by_format": by_format, **info}
        ctx.out.log(
            event="test", model=variant, dates=len(test_src), exact_match=em, token_accuracy=acc, by_format=by_format
        )
        ctx.say(
            f"{variant}: exact match {100 * em:.2f}%, per-token accuracy {100 * acc:.2f}% on "
            f"{len(test_src)} held-out dates"
        )
        lines.append(f"| {variant} | {100 * em:.2f}% | {100 * acc:.2f}% | {info['steps']} | {info['seconds']} s |")
        if variant == "attention":
            examples = []
            for text in ("Wednesday, March 3, 2021", "3rd of November 1987", "29.2.2048"):
                o, w = decode(model, src_vocab, tgt_vocab, [list(text)], max_len=12)
                examples.append((list(text), o[0], w[0]))
                ctx.out.log(event="example", model=variant, source=text, output="".join(o[0]))
            _heatmap(
                ctx,
                "dates_attention",
                examples,
                "attention weights: which source characters each output character reads",
            )
    with ctx.out.figure("dates_validation") as plot:
        if plot is not None:
            fig, ax = plot
            for variant in VARIANTS:
                steps, errors = zip(*results[variant]["validation"]) if results[variant]["validation"] else ((), ())
                ax.plot(steps, [100 * e for e in errors], "o-", label=variant)
            ax.set_xlabel("training step (batch 64)")
            ax.set_ylabel("validation dates wrong (%), greedy")
            ax.set_yscale("symlog", linthresh=1)
            ax.legend()
    att = results["attention"]["exact_match"]
    total_minutes = sum(r["seconds"] for r in results.values()) / 60
    reached = {v: r["steps"] for v, r in results.items() if r["stop_reason"] == "target_reached"}
    summary = {
        "models": results,
        "test_dates": len(test_src),
        "target_met": None if quick else bool(att >= 0.99 and results["attention"]["seconds"] <= 600),
        "steps_to_target": reached,
        "result": f"exact match on held-out dates: without attention "
        f"{100 * results['no-attention']['exact_match']:.2f}%, with attention {100 * att:.2f}%"
        + (
            "; steps to <= 0.2% validation error: " + ", ".join(f"{v} {k}" for v, k in reached.items())
            if reached
            else ""
        ),
    }
    lines = [
        f"{len(test_src)} test dates on calendar days never seen in training, {len(formats)} formats "
        f"(e.g. {', '.join(repr(f) for f in formats[:4])}); greedy decoding; training {total_minutes:.1f} "
        "minutes in all.",
        "",
        *lines,
        "",
        "Target: with attention >= 99% exact match within 10 minutes of training on 2 cores. Training "
        "stops once at most 0.2% of the validation dates are wrong (greedy), else after the minutes "
        "budget; `steps` is where it stopped (dates_validation.png: the error against the step).",
        "",
        "Exact match by format (attention / no attention):",
        "",
        "| format | attention | no attention |",
        "|---|---|---|",
        *(
            f"| {f} | {100 * results['attention']['by_format'].get(f, math.nan):.1f}% | "
            f"{100 * results['no-attention']['by_format'].get(f, math.nan):.1f}% |"
            for f in formats
        ),
    ]
    return summary, lines


# --- reverse -----------------------------------------------------------------------------------------
def run_reverse(ctx):
    quick = ctx.quick
    max_len = 8 if quick else 24
    symbols = "abcdefghij" if quick else "abcdefghijklmnopqrst"
    vocab = TokenVocab(list(symbols))
    val_src, val_tgt = reverse_pairs(300, np.random.default_rng(ctx.seed + 1), 1, max_len, symbols)
    val_src = [list(s) for s in val_src]

    def sample(rng, n):
        src, tgt = reverse_pairs(n, rng, 1, max_len, symbols)
        return [list(s) for s in src], [list(s) for s in tgt]

    def error(model):
        out, _ = decode(model, vocab, vocab, val_src, max_len=max_len + 2)
        return 1.0 - token_accuracy(out, [list(t) for t in val_tgt])

    hidden = 32 if quick else 64

    def config(attention):
        return Seq2SeqConfig(
            vocab.size,
            vocab.size,
            embedding=16 if quick else 32,
            cell="lstm",
            hidden=hidden,
            decoder_cell="lstm",
            attention="additive" if attention else None,
        )

    minutes = ctx.options.get("minutes") or (None if quick else 4.0)
    how = Fit(
        steps=400 if quick else 20_000,
        minutes=minutes,
        lr=3e-3,
        clip=1.0,
        eval_every=200 if quick else 250,
        target=None if quick else 0.001,
        progress=ctx.progress,
        seed=ctx.seed,
        score_name="token error rate",
    )
    models = train_pair(ctx, config, vocab, vocab, sample, error, "chars", how, 64, {"experiment": "reverse"})

    lengths = [2, 4, 6, 8] if quick else [4, 8, 12, 16, 20, 24]
    results, n_test = {}, 100 if quick else 500
    for variant, (model, info) in models.items():
        per_length = {}
        for k, T in enumerate(lengths):
            src, tgt = reverse_pairs(n_test, np.random.default_rng(ctx.seed + 100 + k), T, T, symbols)
            out, _ = decode(model, vocab, vocab, [list(s) for s in src], max_len=T + 2)
            refs = [list(t) for t in tgt]
            per_length[T] = {"exact_match": exact_match(out, refs), "token_accuracy": token_accuracy(out, refs)}
            ctx.out.log(event="test", model=variant, length=T, sequences=n_test, **per_length[T])
        results[variant] = {"by_length": per_length, **info}
        ctx.say(
            f"{variant}: per-token accuracy by length "
            + ", ".join(f"{T}: {100 * r['token_accuracy']:.1f}%" for T, r in per_length.items())
        )

    with ctx.out.figure("reverse") as plot:
        if plot is not None:
            fig, ax = plot
            for variant in VARIANTS:
                ax.plot(
                    lengths,
                    [100 * results[variant]["by_length"][T]["token_accuracy"] for T in lengths],
                    "o-",
                    label=f"{variant}, per token",
                )
                ax.plot(
                    lengths,
                    [100 * results[variant]["by_length"][T]["exact_match"] for T in lengths],
                    "s--",
                    label=f"{variant}, whole sequence",
                )
            ax.set_xlabel("sequence length")
            ax.set_ylabel("right (%)")
            ax.set_ylim(0, 102)
            ax.legend()
    longest = lengths[-1]
    a, n = (results[v]["by_length"][longest]["token_accuracy"] for v in ("attention", "no-attention"))
    summary = {
        "models": results,
        "lengths": lengths,
        "target_met": None,
        "result": f"per-token accuracy at length {longest}: without attention {100 * n:.1f}%, "
        f"with attention {100 * a:.1f}%",
    }
    lines = [
        f"Strings of 1..{max_len} symbols from {len(symbols)}; {n_test} test strings per length; greedy decoding.",
        "",
        "| length | " + " | ".join(f"{v}: per token / whole" for v in VARIANTS) + " |",
        "|---|---|---|",
        *(
            f"| {T} | "
            + " | ".join(
                f"{100 * results[v]['by_length'][T]['token_accuracy']:.1f}% / "
                f"{100 * results[v]['by_length'][T]['exact_match']:.1f}%"
                for v in VARIANTS
            )
            + " |"
            for T in lengths
        ),
        "",
        " ".join(f"{v}: {results[v]['steps']} steps, {results[v]['seconds']} s." for v in VARIANTS),
    ]
    return summary, lines


# --- translate ---------------------------------------------------------------------------------------
LENGTH_BUCKETS = ((1, 4), (5, 6), (7, 8), (9, 10))  # English words (BLEU-4 needs outputs of 4+ tokens)


def run_translate(ctx):
    quick = ctx.quick
    source = ctx.options.get("data") or ctx.datasets["fra-eng"]
    unit = unit_name(ctx.options.get("unit") or "words")
    min_count = ctx.options.get("min_count") or 2
    max_words = 10
    pairs = load_pairs(source, max_words=max_words)
    # words (lower-cased, punctuation apart) split the data and are what BLEU and exact match read;
    # the model reads and writes `unit` tokens (the same words, or characters)
    en_words = [tokenize_words(s) for s in pairs.source]
    fr_words = [tokenize_words(t) for t in pairs.target]
    en = [tokens_of(s, unit) for s in pairs.source]
    fr = [tokens_of(t, unit) for t in pairs.target]
    # split by English sentence, so a test sentence was never seen in training in any translation
    groups: dict[tuple, list[int]] = {}
    for k, e in enumerate(en_words):
        groups.setdefault(tuple(e), []).append(k)
    keys = list(groups)
    order = np.random.default_rng(ctx.seed).permutation(len(keys))
    n_test, n_val = (200, 100) if quick else (2000, 500)
    if len(keys) < n_test + n_val + 10:
        raise ValueError(
            f"{pairs.path}: {len(keys)} distinct English sentences of at most {max_words} "
            f"words, too few for {n_test} test and {n_val} validation sentences"
        )
    test_keys = [keys[i] for i in order[:n_test]]
    val_keys = [keys[i] for i in order[n_test : n_test + n_val]]
    train_idx = np.array([k for i in order[n_test + n_val :] for k in groups[keys[i]]])
    # the most frequent tokens seen min_count times: the output layer's size is most of a step's
    # cost; a min_count that would leave fewer than half the tokens known falls to 1 (build_vocab)
    src_vocab, src_min, src_note = build_vocab([en[i] for i in train_idx], min_count=min_count, max_size=5000)
    tgt_vocab, tgt_min, tgt_note = build_vocab([fr[i] for i in train_idx], min_count=min_count, max_size=6000)
    notes = [f"{side} vocabulary: {note}" for side, note in (("English", src_note), ("French", tgt_note)) if note]
    val_src = [en[groups[k][0]] for k in val_keys]
    val_tgt = [fr[groups[k][0]] for k in val_keys]
    ctx.say(
        f"{len(en)} pairs of at most {max_words} English words from {pairs.path}; {len(train_idx)} "
        f"training pairs, {n_val} validation and {n_test} test English sentences; {unit}; vocabularies "
        f"{src_vocab.size} English (min count {src_min}), {tgt_vocab.size} French (min count {tgt_min}), "
        "others <unk>"
    )
    for note in notes:
        ctx.say(f"note: {note}")
        ctx.out.notes.append(note)  # summary.json's notes, summary.md's last lines

    def sample(rng, n):
        idx = train_idx[rng.integers(len(train_idx), size=n)]
        return [en[i] for i in idx], [fr[i] for i in idx]

    def val_loss(model):
        return validation_loss(model, src_vocab, tgt_vocab, val_src, val_tgt)

    hidden = 32 if quick else 96

    def config(attention):
        return Seq2SeqConfig(
            src_vocab.size,
            tgt_vocab.size,
            embedding=32 if quick else 96,
            cell="gru",
            hidden=hidden,
            bidirectional=True,
            decoder_cell="gru",
            decoder_hidden=2 * hidden,
            attention="additive" if attention else None,
            attention_size=hidden,
        )

    minutes = ctx.options.get("minutes") or (None if quick else 7.0)
    how = Fit(
        steps=300 if quick else 100_000,
        minutes=minutes,
        lr=2e-3,
        clip=1.0,
        eval_every=100 if quick else 500,
        progress=ctx.progress,
        seed=ctx.seed,
    )
    models = train_pair(
        ctx,
        config,
        src_vocab,
        tgt_vocab,
        sample,
        val_loss,
        unit,
        how,
        64,
        {"experiment": "translate", "data": str(pairs.path), "min_count": {"source": src_min, "target": tgt_min}},
    )

    test_src = [en[groups[k][0]] for k in test_keys]
    references = [[fr_words[i] for i in groups[k]] for k in test_keys]  # every French translation given
    src_len = np.array([sum(t[0].isalnum() for t in k) for k in test_keys])  # words, punctuation left out
    longest = max(len(fr[i]) for i in train_idx)
    max_len = 2 * max_words + 5 if unit == "words" else 2 * longest + 5
    beam = 0 if quick else 4
    results, outputs = {}, {}
    for variant, (model, info) in models.items():
        out, _ = decode(model, src_vocab, tgt_vocab, test_src, beam=beam, max_len=max_len)
        out = [tokenize_words(join_tokens(o, unit)) for o in out]  # as words, whatever the unit
        outputs[variant] = out
        scores = _translation_scores(out, references)
        by_length = {}
        for lo, hi in LENGTH_BUCKETS:
            idx = np.flatnonzero((src_len >= lo) & (src_len <= hi))
            if len(idx):
                by_length[f"{lo}-{hi}"] = {
                    **_translation_scores([out[i] for i in idx], [references[i] for i in idx]),
                    "sentences": int(len(idx)),
                }
        loss = val_loss(model)
        results[variant] = {**scores, "by_length": by_length, "validation_loss": loss, **info}
        ctx.out.log(
            event="test",
            model=variant,
            sentences=len(test_src),
            **scores,
            by_length=by_length,
            validation_loss=loss,
            beam=beam,
        )
        ctx.say(
            f"{variant}: BLEU {scores['bleu']:.2f} (smoothed {scores['bleu_smoothed']:.2f}), exact match "
            f"{100 * scores['exact_match']:.1f}% on {len(test_src)} held-out sentences; BLEU by source length "
            + ", ".join(f"{k}: {v['bleu']:.1f}" for k, v in by_length.items())
        )

    examples = []
    for i in np.argsort(-src_len, kind="stable")[:: max(1, len(test_src) // 8)][:8]:
        ex = {
            "english": " ".join(test_keys[i]),
            "reference": " ".join(references[i][0]),
            **{v: " ".join(outputs[v][i]) for v in VARIANTS},
        }
        examples.append(ex)
        ctx.out.log(event="example", **ex)
    with ctx.out.figure("translate_bleu_by_length") as plot:
        if plot is not None:
            fig, ax = plot
            buckets = list(results["attention"]["by_length"])
            x = np.arange(len(buckets))
            for k, variant in enumerate(VARIANTS):
                ax.bar(
                    x + (k - 0.5) * 0.4,
                    [results[variant]["by_length"].get(b, {}).get("bleu", 0) for b in buckets],
                    0.4,
                    label=variant,
                )
            ax.set_xticks(x, [f"{b} English words" for b in buckets])
            ax.set_ylabel("corpus BLEU (unsmoothed)")
            ax.legend()
    gain = {
        b: results["attention"]["by_length"][b]["bleu"] - results["no-attention"]["by_length"].get(b, {}).get("bleu", 0)
        for b in results["attention"]["by_length"]
    }
    summary = {
        "models": results,
        "test_sentences": len(test_src),
        "beam": beam,
        "unit": unit,
        "min_count": {"source": src_min, "target": tgt_min},
        "attention_gain_by_length": gain,
        "examples": examples,
        "target_met": None,
        "result": "BLEU (smoothed) / exact match: without attention "
        + ", with attention ".join(
            f"{results[v]['bleu']:.2f} ({results[v]['bleu_smoothed']:.2f}) / {100 * results[v]['exact_match']:.1f}%"
            for v in VARIANTS
        )
        + "; BLEU gain by source length "
        + ", ".join(f"{b}: {g:+.1f}" for b, g in gain.items()),
    }
    lines = [
        f"{len(test_src)} held-out English sentences of at most {max_words} words (all their French "
        f"translations as references), {'beam search of width ' + str(beam) if beam else 'greedy decoding'}; "
        f"the models read and write {unit}. Scores on lower-cased word tokens: corpus BLEU (4-grams, "
        "brevity penalty) unsmoothed, as the anchor's, and with exponential smoothing (sacrebleu's default, "
        "which keeps short outputs from scoring 0); exact match: the output equals one of the references.",
        *(
            [
                "Note: no output has 4 or more words, so 4-gram BLEU is 0 smoothed or not (no 4-gram to "
                "count, as sacrebleu); read exact match."
            ]
            if all(len(o) < 4 for out in outputs.values() for o in out)
            else []
        ),
        "",
        "| model | BLEU | BLEU, smoothed | exact match | "
        + " | ".join(
            f"BLEU, {b} words ({results['attention']['by_length'][b]['sentences']})"
            for b in results["attention"]["by_length"]
        )
        + " | steps | training time |",
        "|---|---|---|---|" + "---|" * len(gain) + "---|---|",
        *(
            f"| {v} | {results[v]['bleu']:.2f} | {results[v]['bleu_smoothed']:.2f} | "
            f"{100 * results[v]['exact_match']:.1f}% | "
            + " | ".join(f"{results[v]['by_length'].get(b, {}).get('bleu', 0):.2f}" for b in gain)
            + f" | {results[v]['steps']} | {results[v]['seconds']} s |"
            for v in VARIANTS
        ),
        "",
        "Examples (the longest sources first):",
        "",
        "| English | reference | no attention | attention |",
        "|---|---|---|---|",
        *(f"| {e['english']} | {e['reference']} | {e['no-attention']} | {e['attention']} |" for e in examples),
    ]
    return summary, lines


def _translation_scores(out: list[list[str]], references: list[list[list[str]]]) -> dict:
    """Corpus BLEU unsmoothed ("bleu", the anchor's) and exp-smoothed ("bleu_smoothed"), and the
    share of outputs equal to one of their references ("exact_match"), on word tokens."""
    return {
        "bleu": corpus_bleu(out, references),
        "bleu_smoothed": corpus_bleu(out, references, smooth="exp"),
        "exact_match": float(np.mean([o in refs for o, refs in zip(out, references)])),
    }


DATES = Experiment(
    name="dates",
    title="dates in 12 human formats -> ISO 8601: encoder-decoder without vs with attention",
    anchor="the lectures: attention lets the decoder read the source where it needs it "
    "(target: >= 99% exact match on held-out dates with attention, within 10 minutes)",
    options=(MINUTES, SAMPLING),
    run=run_dates,
)

TRANSLATE = Experiment(
    name="translate",
    title="English -> French (Tatoeba, <= 10 words): BLEU without vs with attention, by source length",
    anchor="Bahdanau et al. 2015, fig. 2: without attention BLEU falls with sentence length "
    "(the fixed-length bottleneck); attention's gain grows with length",
    options=(
        Option(
            "data",
            "the English-French pairs, fra-eng.zip or fra.txt (default: data set fra-eng, downloaded once)",
            metavar="DIR",
        ),
        Option(
            "unit",
            "the models' tokens: words (default; also word) or chars (also char)",
            choices=tuple(UNIT_NAMES),
        ),
        Option(
            "min_count",
            "a token seen fewer times in training is <unk> (default 2; falls to 1, with a note, "
            "when fewer than half the tokens would be known)",
            parse=positive_int,
        ),
        MINUTES,
        SAMPLING,
    ),
    run=run_translate,
    datasets=("fra-eng",),
    data_options=("data",),
)

REVERSE = Experiment(
    name="reverse",
    title="reverse a random string: accuracy against length without vs with attention",
    anchor="Sutskever et al. 2014 (reversing helps: short dependencies); without attention the "
    "accuracy falls with length, with attention it stays high",
    options=(MINUTES, SAMPLING),
    run=run_reverse,
)


# --- using a trained model: rnnlab translate ------------------------------------------------------------
class Translator:
    """A trained Seq2Seq with its vocabularies and token unit, read from a model's run folder."""

    def __init__(self, model: Seq2Seq, src_vocab: TokenVocab, tgt_vocab: TokenVocab, unit: str, path: Path):
        self.model, self.src_vocab, self.tgt_vocab, self.path = model, src_vocab, tgt_vocab, path
        self.unit = unit_name(unit)

    def __call__(self, texts: list[str], beam: int = 0, max_len: int = 50, alpha: float = 1.0):
        """[(output text, source tokens, output tokens, attention weights or None)] for each text."""
        src = [tokens_of(t, self.unit) for t in texts]
        unknown = sorted({t for s in src for t in s if t not in self.src_vocab.index})
        out, weights = decode(self.model, self.src_vocab, self.tgt_vocab, src, beam=beam, max_len=max_len, alpha=alpha)
        return [(join_tokens(o, self.unit), s, o, w) for s, o, w in zip(src, out, weights)], unknown


def load_translator(path) -> Translator:
    """The seq2seq model of a run folder: MODEL/ (its best checkpoint, else the newest), a
    checkpoint folder, or an experiment's folder holding an attention/ model."""
    from ..train.safetensors import CheckpointError

    folder = Path(path)
    if not folder.exists():
        raise ValueError(
            f"{folder} does not exist: pass a seq2seq model's run folder, e.g. "
            "runs/dates-.../attention (rnnlab experiment dates|translate|reverse writes them)"
        )
    if (
        not (folder / "state.json").is_file()
        and not any(folder.glob("checkpoint-*"))
        and not (folder / "best").is_dir()
        and (folder / "attention").is_dir()
    ):
        folder = folder / "attention"  # an experiment's folder: its attention model
    if (folder / "best" / "state.json").is_file():
        folder = folder / "best"
    ckpt = load_checkpoint(folder)
    spec = ckpt.state.get("config", {}).get("task", {}).get("seq2seq")
    if not isinstance(spec, dict) or not {"model", "src_vocab", "tgt_vocab", "unit"} <= set(spec):
        raise CheckpointError(
            ckpt.path / "state.json",
            "is not a seq2seq model's checkpoint (no task.seq2seq "
            "config); pass the folder of a dates, translate or "
            "reverse model",
        )
    model = Seq2Seq(Seq2SeqConfig(**spec["model"]))
    load_weights_into(model, ckpt)
    model.eval()
    return Translator(
        model, TokenVocab.from_json(spec["src_vocab"]), TokenVocab.from_json(spec["tgt_vocab"]), spec["unit"], ckpt.path
    )
