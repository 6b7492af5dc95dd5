"""Data: corpora, vocabularies and batching. Never touches model internals.

`text` holds what a character-level language model needs: `load_text` for files (with errors
naming the file, byte and line), `builtin_corpus` for text that ships with Python, `Vocab`,
`split` and `BatchStream` (char-rnn's contiguous windows, a pure function of the step number).
"""

from .text import CORPORA, SOURCE_MAX_CHARS, BatchStream, DataError, Vocab, builtin_corpus, load_text, split

__all__ = ["CORPORA", "SOURCE_MAX_CHARS", "BatchStream", "DataError", "Vocab", "builtin_corpus", "load_text", "split"]
