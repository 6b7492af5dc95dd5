"""Sentiment: many-to-one classification of sentences, an RNN beside bag-of-words.

An embedding and a bidirectional LSTM read the sentence; its final states (both directions) go
to a linear layer with two outputs. Beside it, logistic regression on the bag of words (which
words occur, their order forgotten), trained by the same engine (a Linear layer, cross-entropy,
Adam). Both are read on a held-out split, then on pairs of sentences made of the same words in
another order with opposite meanings ("not good, bad" vs "not bad, good"): bag-of-words gives
both sentences of a pair the same score, so it gets at most one of each pair right.

The UCI sentences hardly teach order (12 hold "not good", one "not bad"), so both models are
trained twice: on the training split alone, and with sentences added whose label their word order
sets (rnnlab.data.sentiment.contrast_sentences: "not A, B", "A X but B Y", ...), built from words
the training split shows to be positive or negative. No word of the pairs is among them, so the
pairs still test words whose sentiment the model learnt from real sentences; bag-of-words, given
the same sentences, still cannot tell a pair apart. Each model is trained from three seeds.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..data.sentiment import WordVocab, contrast_sentences, load_labelled, polar_words, tokenize
from ..data.text import DataError
from ..models.classifier import ClassifierConfig, SequenceClassifier
from ..models.encoder import EncoderConfig
from ..nn import Linear, cross_entropy
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import Experiment, Fit, Option, SupervisedTask, accuracy, fit, non_negative_int

# (negative, positive): the same words, the order decides. The UCI labels are 0 negative, 1 positive.
ORDER_PAIRS = [
    ("not good, bad", "not bad, good"),
    ("the food was not good, it was bad", "the food was not bad, it was good"),
    ("it was bad, not great", "it was great, not bad"),
    ("this phone is not excellent, it is awful", "this phone is not awful, it is excellent"),
    ("the movie was not fun, it was boring", "the movie was not boring, it was fun"),
    ("the service was not friendly but rude", "the service was not rude but friendly"),
    ("i hated it, i never loved it", "i loved it, i never hated it"),
    ("great price but terrible quality", "terrible price but great quality"),
]


LABELS = ("0", "1")  # the UCI sentences' labels, 0 negative and 1 positive: what the order pairs read
BATCH = 32  # sentences per training step


def split(n: int, rng: np.random.Generator, test: float = 0.2, val: float = 0.1):
    """Index arrays (train, validation, test): test share of all, validation share of the rest."""
    order = rng.permutation(n)
    n_test = int(round(test * n))
    n_val = int(round(val * (n - n_test)))
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def _enough(n: int) -> bool:
    """Whether n sentences split into a batch's worth to train on and some to validate and test."""
    train, val, test = (len(part) for part in split(n, np.random.default_rng(0)))
    return train >= BATCH and val > 0 and test > 0


def run(ctx):
    quick = ctx.quick
    source = ctx.options.get("tsv") or ctx.datasets["sentiment"]
    data = load_labelled(source, labels=LABELS)
    n_classes = len(data.classes)
    if not _enough(len(data.texts)):
        need = next(n for n in itertools.count(len(data.texts)) if _enough(n))
        raise DataError(
            source,
            f"holds {len(data.texts)} sentence(s), too few: a batch of {BATCH} to train on and some to validate "
            f"and test need at least {need}",
        )
    rng = np.random.default_rng(ctx.seed)
    train, val, test = split(len(data.texts), rng)
    texts = np.array(data.texts, dtype=object)
    vocab = WordVocab.from_texts(list(texts[train]))
    ctx.say(
        f"{len(data.texts)} sentences from {len(data.sources)} file(s), {n_classes} classes; "
        f"train {len(train)}, validation {len(val)}, test {len(test)}; {vocab.size} words"
    )
    binary = data.classes == ["0", "1"]

    # The same models again on the training split plus generated sentences whose label their word
    # order sets (data.sentiment.contrast_sentences), built from the training split's own polar words.
    # A tenth as many more are held out for validation.
    contrast = ([], np.zeros(0, np.int64))
    n_contrast = ctx.options.get("contrast")
    n_contrast = (400 if quick else 2000) if n_contrast is None else n_contrast
    if binary and n_contrast > 0:
        pair_words = {w for pair in ORDER_PAIRS for sentence in pair for w in tokenize(sentence)}
        positive, negative = polar_words(list(texts[train]), data.labels[train], exclude=pair_words)
        if positive and negative:
            contrast = contrast_sentences(
                positive, negative, n_contrast + n_contrast // 10, np.random.default_rng(ctx.seed + 1)
            )
            ctx.say(
                f"{n_contrast} generated order sentences (and {n_contrast // 10} for validation) from "
                f"{len(positive)} positive and {len(negative)} negative words of the training split"
            )
    variants = [("uci", "the sentences alone", [], np.zeros(0, np.int64), 0)]
    if contrast[0]:
        variants.append(
            ("contrast", f"the sentences + {n_contrast} generated order sentences", *contrast, n_contrast // 10)
        )

    # Eight pairs and a small corpus: one training run says little, so each model is trained from
    # several initialisations (seed, seed + 1, ...) on the same split and data, and their mean read.
    seeds = [ctx.seed + k for k in range(1 if quick else REPEATS)]
    runs = {}
    for key, label, extra_texts, extra_labels, extra_val in variants:
        ctx.say(f"training on {label}")
        runs[key] = []
        for seed in seeds:
            r = _train_pair(
                ctx,
                data,
                vocab,
                train,
                val,
                test,
                extra_texts,
                extra_labels,
                ctx.out.path / key / f"seed{seed}",
                seed=seed,
                extra_val=extra_val,
                hidden=16 if quick else 32,
                epochs=8 if quick else 15,
            )
            runs[key].append(r)
            for name, m in r.items():
                ctx.out.log(
                    event="test",
                    data=key,
                    model=name,
                    seed=seed,
                    accuracy=m["accuracy"],
                    sentences=len(test),
                    **{f"pairs_{k}": v for k, v in m.get("pairs", {}).items()},
                )
                ctx.say(
                    f"  seed {seed} {MODEL_LABELS[name]}: test accuracy {100 * m['accuracy']:.1f}%"
                    + (f"; order pairs: {100 * m['pairs']['pairs']:.0f}% both right" if "pairs" in m else "")
                )
    results = {
        key: {name: _mean_over_seeds([r[name] for r in per_seed]) for name in MODEL_LABELS}
        for key, per_seed in runs.items()
    }

    lines = [
        f"{len(data.texts)} sentences ({', '.join(Path(s).name for s in data.sources)}); test split "
        f"{len(test)}; batches of {BATCH}, the checkpoint with the best validation accuracy kept; each model "
        f"trained from {len(seeds)} initialisation(s) (seeds {', '.join(map(str, seeds))}), means shown.",
        "",
        "| training data | model | held-out accuracy | order pairs: both right (each seed) | order sentences right |",
        "|---|---|---|---|---|",
    ]
    for key, label, *_ in variants:
        for name, m in results[key].items():
            pairs = m.get("pairs")
            lines.append(
                f"| {label} | {MODEL_LABELS[name]} | {100 * m['accuracy']:.1f}% | "
                + (
                    f"{100 * pairs['pairs']:.0f}% ({', '.join(f'{100 * v:.0f}%' for v in pairs['each_seed'])}) | "
                    f"{100 * pairs['sentences']:.0f}% |"
                    if pairs
                    else "- | - |"
                )
            )

    with ctx.out.figure("sentiment") as plot:
        if plot is not None:
            fig, ax = plot
            bars = [(key, name) for key in results for name in MODEL_LABELS]
            at = np.arange(len(bars))
            ax.bar(at - 0.2, [100 * results[k][m]["accuracy"] for k, m in bars], 0.4, label="held-out sentences")
            if binary:
                ax.bar(
                    at + 0.2,
                    [100 * results[k][m]["pairs"]["pairs"] for k, m in bars],
                    0.4,
                    label="order pairs, both right",
                )
            ax.set_xticks(
                at,
                [f"{MODEL_LABELS[m]}\n{'+ generated' if k == 'contrast' else 'UCI only'}" for k, m in bars],
                fontsize=8,
            )
            ax.set_ylabel(f"%, mean of {len(seeds)} seed(s)")
            ax.legend()

    def headline(m):
        pairs = m.get("pairs")
        return f"{100 * m['accuracy']:.1f}%" + (f" ({100 * pairs['pairs']:.0f}% of pairs)" if pairs else "")

    target_met = None
    if "contrast" in results:  # bag-of-words cannot get a pair both right; the RNN gets most of them
        target_met = (
            results["contrast"]["bilstm"]["pairs"]["pairs"] > 0.5
            and results["contrast"]["bag-of-words"]["pairs"]["pairs"] == 0.0
        )
    summary = {
        "test_accuracy": {name: m["accuracy"] for name, m in results["uci"].items()},
        "order_pairs": {name: m["pairs"] for name, m in results["uci"].items() if "pairs" in m},
        "results": results,
        "seeds": seeds,
        "contrast_sentences": n_contrast if contrast[0] else 0,
        "sentences": len(data.texts),
        "target_met": target_met,
        "result": "; ".join(
            f"{key}: BiLSTM {headline(m['bilstm'])}, bag-of-words {headline(m['bag-of-words'])}"
            for key, m in results.items()
        )
        + f" (mean of {len(seeds)} seed(s))",
    }
    if binary:
        lines += [
            "",
            f"{len(ORDER_PAIRS)} order pairs, e.g. {ORDER_PAIRS[0][0]!r} (negative) vs "
            f"{ORDER_PAIRS[0][1]!r} (positive): bag-of-words scores both alike, so it gets none of them "
            "both right. Target: the BiLSTM gets most pairs both right (mean over seeds above 50%) once "
            "it has seen sentences whose order matters, none of them with the pairs' words.",
        ]
    return summary, lines


REPEATS = 3  # initialisations per model in a full run


def _mean_over_seeds(per_seed: list[dict]) -> dict:
    """One model's results from several seeds: mean accuracy and pair scores, pairs per seed."""
    out = {
        "accuracy": float(np.mean([r["accuracy"] for r in per_seed])),
        "accuracy_each_seed": [r["accuracy"] for r in per_seed],
    }
    if "pairs" in per_seed[0]:
        out["pairs"] = {
            "pairs": float(np.mean([r["pairs"]["pairs"] for r in per_seed])),
            "sentences": float(np.mean([r["pairs"]["sentences"] for r in per_seed])),
            "each_seed": [r["pairs"]["pairs"] for r in per_seed],
        }
    return out


MODEL_LABELS = {"bilstm": "BiLSTM", "bag-of-words": "bag-of-words"}


def _train_pair(
    ctx,
    data,
    vocab,
    train,
    val,
    test,
    extra_texts,
    extra_labels,
    folder: Path,
    seed: int,
    extra_val: int = 0,
    hidden: int = 32,
    epochs: int = 15,
) -> dict:
    """Train the BiLSTM and bag-of-words logistic regression on the training split plus the extra
    sentences (the last `extra_val` of them held out) for `epochs` passes; their accuracy on the
    test split and on the order pairs. The checkpoint kept has the best validation accuracy: on the
    validation split, averaged with that on the held-out extra sentences when there are some
    (on 2,000 sentences the loss rises early as the model grows sure of itself, while its
    accuracy, and what it learns of word order, still improve)."""
    n_classes = len(data.classes)
    all_texts = list(data.texts) + list(extra_texts)
    labels = np.concatenate([data.labels, extra_labels])
    extra = len(data.texts) + np.arange(len(extra_texts))
    pool = np.concatenate([train, extra[: len(extra) - extra_val]])  # what training draws from
    val_sets = [val] + ([extra[len(extra) - extra_val :]] if extra_val else [])
    ids, lengths = vocab.encode(all_texts)
    epoch = max(1, len(pool) // BATCH)
    steps = epochs * epoch

    # --- the recurrent classifier --------------------------------------------------------------
    config = ClassifierConfig(
        outputs=n_classes,
        encoder=EncoderConfig(vocab_size=vocab.size, embedding=32, cell="lstm", hidden=hidden, bidirectional=True),
    )
    model = SequenceClassifier(config, np.random.default_rng(seed))

    def rnn_batch(step, rng):
        idx = rng.choice(pool, size=BATCH, replace=False)
        T = int(lengths[idx].max())
        return ids[:T, idx], lengths[idx], labels[idx]

    def rnn_scores(idx):
        return model.predict(ids[:, idx], lengths[idx])

    task = SupervisedTask(
        model,
        rnn_batch,
        lambda s, y: cross_entropy(s, y),
        lambda: 1 - np.mean([accuracy(rnn_scores(v), labels[v]) for v in val_sets]),
        {
            "model": config.to_json(),
            "batch": BATCH,
            "vocab_size": vocab.size,
            "extra_sentences": len(extra_texts),
            "extra_validation": extra_val,
        },
    )
    fit(
        task,
        folder / "bilstm",
        Fit(
            steps=steps, lr=2e-3, clip=1.0, eval_every=epoch, progress=ctx.progress, seed=seed, score_name="error rate"
        ),
    )
    load_weights_into(model, load_checkpoint(folder / "bilstm" / "best"))  # the best validation accuracy

    # --- bag-of-words logistic regression --------------------------------------------------------
    bags = vocab.bag_of_words(all_texts)
    logreg = Linear(vocab.size, n_classes, rng=np.random.default_rng(seed))

    def bow_batch(step, rng):
        idx = rng.choice(pool, size=BATCH, replace=False)
        return bags[idx], None, labels[idx]

    task = SupervisedTask(
        logreg,
        bow_batch,
        lambda s, y: cross_entropy(s, y),
        lambda: 1 - np.mean([accuracy(logreg.forward(bags[v]), labels[v]) for v in val_sets]),
        {
            "model": "logistic regression on the bag of words",
            "vocab_size": vocab.size,
            "extra_sentences": len(extra_texts),
            "extra_validation": extra_val,
        },
    )
    fit(
        task,
        folder / "bag-of-words",
        Fit(
            steps=steps, lr=1e-2, clip=None, eval_every=epoch, progress=ctx.progress, seed=seed, score_name="error rate"
        ),
    )
    load_weights_into(logreg, load_checkpoint(folder / "bag-of-words" / "best"))

    results = {
        "bilstm": {"accuracy": accuracy(rnn_scores(test), labels[test])},
        "bag-of-words": {"accuracy": accuracy(logreg.forward(bags[test]), labels[test])},
    }
    # --- the order-sensitive pairs -----------------------------------------------------------------
    if data.classes == ["0", "1"]:
        sentences = [s for pair in ORDER_PAIRS for s in pair]
        truth = np.tile([0, 1], len(ORDER_PAIRS))
        pair_ids, pair_lengths = vocab.encode(sentences)
        for name, predicted in (
            ("bilstm", model.predict(pair_ids, pair_lengths).argmax(-1)),
            ("bag-of-words", logreg.forward(vocab.bag_of_words(sentences)).argmax(-1)),
        ):
            right = (predicted == truth).reshape(-1, 2)
            results[name]["pairs"] = {"sentences": float(right.mean()), "pairs": float(right.all(axis=1).mean())}
            for (neg, pos), (r_neg, r_pos) in zip(ORDER_PAIRS, right):
                ctx.out.log(
                    event="pair",
                    data=folder.parent.name,
                    seed=seed,
                    model=name,
                    negative=neg,
                    positive=pos,
                    negative_right=r_neg,
                    positive_right=r_pos,
                )
    return results


EXPERIMENT = Experiment(
    name="sentiment",
    title="UCI sentiment sentences: embedding + BiLSTM vs bag-of-words logistic regression, order pairs",
    anchor="the lectures: word order matters ('not good, bad' vs 'not bad, good'); bag-of-words must fail the pairs",
    options=(
        Option(
            "tsv",
            "a file of text<TAB>label lines, labels 0 (negative) and 1 (positive), or a folder of *_labelled.txt "
            "(default: the UCI sentences, data set sentiment, downloaded once: rnnlab data list)",
            metavar="FILE",
        ),
        Option(
            "contrast",
            "how many generated sentences whose word order sets the label to add for the second "
            "pair of models (default 2000; 0 trains on the sentences alone)",
            parse=non_negative_int,
            metavar="N",
        ),
    ),
    run=run,
    datasets=("sentiment",),
    data_options=("tsv",),
)
