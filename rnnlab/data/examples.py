"""Example files for `rnnlab fit`, one pair per task, written the way a person's own files look:
NAME-train.EXT to fit on, NAME-test.EXT held out for `rnnlab evaluate`.

    python -m rnnlab.data.examples DIR [--sentiment FOLDER]

writes into DIR:
    numbers-{train,test}.tsv   seq2seq: number words TAB digits ("three hundred and forty-two" ->
                               "342"): 0..9,999 shuffled (seed 0), the last 1,000 held out
    monthly-{train,test}.csv   forecast: month,value, a monthly series with trend, yearly season
                               and noise (rnnlab.data.timeseries.monthly_example): 2010-2020, and
                               2021 held out
    tags-{train,test}.conll    tag: part-of-speech tags of generated sentences in which "book",
                               "watch", "run", "play" and "fish" are nouns or verbs by their
                               neighbours (token TAB tag per line, a blank line between sentences):
                               480 and 120 sentences
    reviews-{train,test}.csv   classify, when --sentiment names the unzipped folder of the UCI
                               "Sentiment Labelled Sentences" (Kotzias et al. 2015): a header,
                               string labels, 2,400 and 600 sentences (shuffled, seed 0)
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from .sentiment import load_labelled
from .seq2seq import number_pairs
from .timeseries import monthly_example, write_series_csv

# A small grammar: each word with its tags; the five ambiguous words take their tag from context.
PRONOUNS = ("i", "we", "they", "you")
DETERMINERS = ("the", "a", "this", "my")
ADJECTIVES = ("big", "old", "red", "quiet", "new")
NOUNS = ("dog", "park", "river", "friend", "table", "garden")
AMBIGUOUS = ("book", "watch", "run", "play", "fish")  # NOUN after a determiner or adjective, else VERB
VERBS_3RD = ("sees", "likes", "finds", "wants")
PREPOSITIONS = ("in", "near", "on", "by")
ADVERBS = ("today", "often", "again")


def pos_sentences(n: int, seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    """n sentences of the grammar above with their tags (PRON DET ADJ NOUN VERB PART ADP ADV PUNCT)."""
    rng = np.random.default_rng(seed)

    def pick(words):
        return str(words[rng.integers(len(words))])

    def noun_phrase():
        words = [(pick(DETERMINERS), "DET")]
        if rng.random() < 0.4:
            words.append((pick(ADJECTIVES), "ADJ"))
        words.append((pick(NOUNS + AMBIGUOUS), "NOUN"))
        return words

    sentences, tags = [], []
    for _ in range(n):
        if rng.random() < 0.5:  # PRON VERB NP, or PRON VERB to VERB
            words = [(pick(PRONOUNS), "PRON"), (pick(AMBIGUOUS), "VERB")]
            words += noun_phrase() if rng.random() < 0.7 else [("to", "PART"), (pick(AMBIGUOUS), "VERB")]
        else:  # NP VERB-s NP
            words = noun_phrase() + [(pick(VERBS_3RD), "VERB")] + noun_phrase()
        if rng.random() < 0.4:
            words += [(pick(PREPOSITIONS), "ADP")] + noun_phrase()
        if rng.random() < 0.3:
            words.append((pick(ADVERBS), "ADV"))
        words.append((".", "PUNCT"))
        sentences.append([w for w, _ in words])
        tags.append([t for _, t in words])
    return sentences, tags


def write_conll(path, sentences: list[list[str]], tags: list[list[str]]) -> None:
    """token TAB tag per line, a blank line after each sentence."""
    lines = []
    for words, labels in zip(sentences, tags):
        lines += [f"{w}\t{t}" for w, t in zip(words, labels)] + [""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def write_conll_split(folder: Path, n: int = 600, test: int = 120) -> list[Path]:
    sentences, tags = pos_sentences(n)
    train, held = folder / "tags-train.conll", folder / "tags-test.conll"
    write_conll(train, sentences[:-test], tags[:-test])
    write_conll(held, sentences[-test:], tags[-test:])
    return [train, held]


def write_number_pairs(folder: Path, limit: int = 10_000, test: int = 1000, seed: int = 0) -> list[Path]:
    """Every number below `limit` once, shuffled, words TAB digits; the last `test` held out."""
    order = np.random.default_rng(seed).permutation(limit)
    lines = [f"{words}\t{digits}\n" for words, digits in number_pairs([int(k) for k in order])]
    train, held = folder / "numbers-train.tsv", folder / "numbers-test.tsv"
    train.write_text("".join(lines[:-test]), encoding="utf-8")
    held.write_text("".join(lines[-test:]), encoding="utf-8")
    return [train, held]


def write_monthly(folder: Path, test: int = 12) -> list[Path]:
    stamps, values = monthly_example()
    train, held = folder / "monthly-train.csv", folder / "monthly-test.csv"
    write_series_csv(train, stamps[:-test], values[:-test], ["month", "value"])
    write_series_csv(held, stamps[-test:], values[-test:], ["month", "value"])
    return [train, held]


def write_sentiment_csv(folder: Path, sentences, test: float = 0.2, seed: int = 0) -> list[Path]:
    """The UCI sentences as `sentence,sentiment` with labels "negative"/"positive", shuffled; a
    share `test` held out."""
    names = {"0": "negative", "1": "positive"}
    data = load_labelled(sentences, labels=tuple(names))
    rows = [(text, names[data.classes[k]]) for text, k in zip(data.texts, data.labels)]
    order = np.random.default_rng(seed).permutation(len(rows))
    n_test = round(test * len(rows))
    paths = []
    for name, part in (("reviews-train.csv", order[n_test:]), ("reviews-test.csv", order[:n_test])):
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence", "sentiment"])
            writer.writerows(rows[i] for i in part)
        paths.append(folder / name)
    return paths


def write_examples(folder, sentiment=None) -> list[Path]:
    """Every example file into `folder`; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = write_number_pairs(folder) + write_monthly(folder) + write_conll_split(folder)
    if sentiment is not None:
        written += write_sentiment_csv(folder, sentiment)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m rnnlab.data.examples", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="where the files go")
    parser.add_argument("--sentiment", metavar="FOLDER", help="the unzipped sentiment_labelled_sentences folder")
    args = parser.parse_args()
    for path in write_examples(args.folder, args.sentiment):
        print(path)
