"""The built-in encoder: TF-IDF over word and character n-grams, no model weights.

Fitted on the examples alone when the policy is resolved (a few hundred
utterances fit in milliseconds). Word uni- and bigrams carry topic words
("function", "integral", "poem"); character 2-5-grams inside word boundaries
catch inflections and code-ish tokens (``def``, ``x^2``, ``O(n)``) that a word
tokenizer splits badly. Each half is L2-normalised by scikit-learn, the two
are joined and normalised again, so a cosine is a dot product.

One prompt is scored without scikit-learn's ``transform``: its input
validation and sparse-matrix assembly cost ~10 ms a call, a thousand times
the arithmetic. :meth:`LexicalEncoder.similarities` makes the same n-grams
(words with the fitted vectorizer's own analyzer; character n-grams with
:func:`char_wb_ngrams`, scikit-learn's ``char_wb`` as list comprehensions,
once per distinct word), weighs them with the fitted vocabulary and IDF, and
takes the dot product with a dense copy of the examples' vectors.
``tests/dynamic`` checks both against scikit-learn's own ``transform``.

A prompt is read up to its last :data:`MAX_CHARS` characters (in a
conversation, the latest message): the cost of an n-gram pass grows with the
text, and the request's intent is in what it asks last. The same cut applies
in the gateway, explain, policy tests and simulate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

MAX_CHARS = 500
WORD_CACHE = 100_000  # distinct words whose character n-gram ids are kept
_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's ``_char_wb_ngrams`` (lower-cased input), without its per-n-gram loop."""
    grams: list[str] = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if n >= length:
                grams.append(padded)
                break
            grams.extend([padded[i : i + n] for i in range(length - n + 1)])
    return grams


class LexicalEncoder:
    remote = False

    def __init__(self) -> None:
        self._union = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                ),
            ]
        )
        self._words: tuple[Callable[[str], list[str]], dict[str, int], np.ndarray] | None = None
        self._chars: tuple[int, int, dict[str, int], np.ndarray, int] | None = None
        self._char_ids: dict[str, tuple[int, ...]] = {}  # word -> its known n-grams' ids
        self._examples_t: np.ndarray | None = None  # features x examples

    def fit(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Learn the vocabulary from ``texts`` and return their (normalised) vectors."""
        matrix = _normalise(self._union.fit_transform(list(texts)))
        words = self._union.transformer_list[0][1]
        chars = self._union.transformer_list[1][1]
        self._words = (words.build_analyzer(), words.vocabulary_, words.idf_)
        low, high = chars.ngram_range
        self._chars = (low, high, chars.vocabulary_, chars.idf_, len(words.vocabulary_))
        self._char_ids = {}
        self._examples_t = np.ascontiguousarray(matrix.T.toarray(), dtype=np.float32)
        return matrix

    def forget_words(self) -> None:
        """Drop the per-word cache (the benchmark's cold case: every word new)."""
        self._char_ids = {}

    def encode(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return _normalise(self._union.transform(list(texts)))

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, weights) of ``text``: the row ``encode([text])`` would give.

        Character n-grams never cross a word (``char_wb``), so a text's are the sum of
        its words': each distinct word's known n-gram ids are worked out once and kept
        (up to :data:`WORD_CACHE` words), and a prompt costs a lookup per word.
        """
        assert self._words is not None and self._chars is not None, "fit() first"
        text = text[-MAX_CHARS:]
        analyzer, vocabulary, idf = self._words
        word_ids = [i for g in analyzer(text) if (i := vocabulary.get(g)) is not None]
        low, high, char_vocabulary, char_idf, offset = self._chars
        cache = self._char_ids
        char_ids: list[int] = []
        for word in text.lower().split():
            ids = cache.get(word)
            if ids is None:
                grams = char_wb_ngrams(word, low, high)
                ids = tuple(i for g in grams if (i := char_vocabulary.get(g)) is not None)
                if len(cache) >= WORD_CACHE:
                    cache.clear()
                cache[word] = ids
            char_ids.extend(ids)
        indices: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for ids, part_idf, part_offset in ((word_ids, idf, 0), (char_ids, char_idf, offset)):
            if not ids:
                continue
            # counts by bincount over the vocabulary: no sort, unlike np.unique
            counts = np.bincount(np.asarray(ids, np.intp), minlength=len(part_idf))
            unique = np.flatnonzero(counts)
            weight = (1.0 + np.log(counts[unique])) * part_idf[unique]  # sublinear tf times idf
            indices.append(unique + part_offset)
            weights.append(weight / np.sqrt(weight @ weight))
        if not indices:
            return np.zeros(0, np.intp), np.zeros(0)
        values = np.concatenate(weights)
        return np.concatenate(indices), values / np.sqrt(values @ values)

    def similarities(self, text: str) -> np.ndarray:
        """Cosine of ``text`` with every example, in the order they were fitted."""
        assert self._examples_t is not None, "fit() first"
        indices, values = self.vector(text)
        if not len(indices):
            return np.zeros(self._examples_t.shape[1])
        return (values.astype(np.float32) @ self._examples_t[indices]).astype(np.float64)


def _normalise(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)
