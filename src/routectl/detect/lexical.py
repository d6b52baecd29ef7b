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
about twice as fast), weighs them with the fitted vocabulary and IDF, and takes
the dot product with a dense copy of the examples' vectors. ``tests/dynamic``
checks both against scikit-learn's own ``transform``.

A prompt is read up to its last :data:`MAX_CHARS` characters (in a
conversation, the latest message): the cost of an n-gram pass grows with the
text, and the request's intent is in what it asks last. The same cut applies
in the gateway, explain, policy tests and simulate.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

MAX_CHARS = 500
_MISSING = itertools.repeat(-1)  # vocabulary.get's default, for map()
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
        self._parts: list[tuple[object, dict[str, int], np.ndarray, int]] = []
        self._examples_t: np.ndarray | None = None  # features x examples

    def fit(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Learn the vocabulary from ``texts`` and return their (normalised) vectors."""
        matrix = _normalise(self._union.fit_transform(list(texts)))
        offset = 0
        self._parts = []
        for _, vectorizer in self._union.transformer_list:
            vocabulary = vectorizer.vocabulary_
            analyzer = vectorizer.build_analyzer()
            if vectorizer.analyzer == "char_wb":
                low, high = vectorizer.ngram_range
                analyzer = functools.partial(_lowered_char_wb, low=low, high=high)
            self._parts.append((analyzer, vocabulary, vectorizer.idf_, offset))
            offset += len(vocabulary)
        self._examples_t = np.ascontiguousarray(matrix.T.toarray(), dtype=np.float32)
        return matrix

    def encode(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return _normalise(self._union.transform(list(texts)))

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(feature indices, weights) of ``text``: the row ``encode([text])`` would give."""
        text = text[-MAX_CHARS:]
        indices: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for analyzer, vocabulary, idf, offset in self._parts:
            counts = Counter(analyzer(text))  # type: ignore[operator]
            found = np.fromiter(map(vocabulary.get, counts, _MISSING), np.intp, len(counts))
            known = found >= 0
            if not known.any():
                continue
            ids = found[known]
            tf = np.fromiter(counts.values(), np.float64, len(counts))[known]
            weight = (1.0 + np.log(tf)) * idf[ids]  # sublinear tf times idf, as fitted
            indices.append(ids + offset)
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


def _lowered_char_wb(text: str, low: int, high: int) -> list[str]:
    return char_wb_ngrams(text.lower(), low, high)


def _normalise(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)
