"""Word embeddings with gensim's Word2Vec: training kernel and inference helpers.

Vectors are stored in the word2vec binary format (``vectors.bin``), never as a gensim pickle, so a
model file can be loaded without executing code and by other tools.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from osler.kernels.errors import InputError, UnknownWordError
from osler.kernels.progress import ProgressCallback, report
from osler.kernels.text.datasets import read_documents
from osler.kernels.text.tokenize import Tokenizer, TokenizerConfig

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

VECTORS_FILE = "vectors.bin"
"""Vectors in the word2vec binary format."""
VOCAB_FILE = "vocab.tsv"
"""Vocabulary with counts, most frequent first."""
TOKENIZER_FILE = "tokenizer.json"
"""Tokenizer configuration used for training; queries go through the same rules."""
PROJECTION_FILE = "projection.png"
"""2-D PCA projection of the most frequent terms."""
MAX_SENTENCE_TOKENS = 10_000
"""gensim silently truncates longer sentences, so documents are cut into pieces of this size."""


def stable_hash(text: str) -> int:
    """Process-independent hash for gensim's vector initialisation (builtin ``hash`` is salted)."""
    return zlib.crc32(text.encode("utf-8"))


def tokenize_corpus(documents: Sequence[str], tokenizer: Tokenizer) -> list[list[str]]:
    """Tokenise documents for gensim, dropping empty ones and splitting very long ones."""
    corpus: list[list[str]] = []
    for doc in documents:
        tokens = tokenizer.tokenize(doc)
        for start in range(0, len(tokens), MAX_SENTENCE_TOKENS):
            corpus.append(tokens[start:start + MAX_SENTENCE_TOKENS])
    return corpus


def _epoch_callback(epochs: int, progress: ProgressCallback | None):
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochProgress(CallbackAny2Vec):
        """Reports each finished epoch; an exception from ``progress`` stops training."""

        def __init__(self) -> None:
            self.epoch = 0

        def on_epoch_end(self, model) -> None:
            self.epoch += 1
            report(progress, 0.05 + 0.85 * self.epoch / epochs, f"epoch {self.epoch}/{epochs}")

    return EpochProgress()


def _check_positive(**params: int) -> None:
    for name, value in params.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")


def train_word2vec(dataset_path: Path, out_dir: Path, *,
                   architecture: Literal["skipgram", "cbow"] = "skipgram",
                   vector_size: int = 100, window: int = 5, min_count: int = 5,
                   epochs: int = 5, workers: int = 2, negative: int = 5, sample: float = 1e-3,
                   seed: int = 0,
                   lowercase: bool = True, punctuation: Literal["drop", "split"] = "drop",
                   numbers: Literal["keep", "mask"] = "keep", projection_terms: int = 100,
                   progress: ProgressCallback | None = None) -> dict:
    """Train word2vec on a plain-text corpus (one document per line).

    Parameters
    ----------
    dataset_path : Path
        UTF-8 text file, one document per line; empty lines are skipped.
    out_dir : Path
        Existing empty folder for ``vectors.bin``, ``vocab.tsv``, ``tokenizer.json`` and
        ``projection.png``.
    architecture : {"skipgram", "cbow"}
        Skip-gram (predict context from word) or continuous bag of words.
    vector_size, window, min_count, epochs, workers, negative : int
        As in ``gensim.models.Word2Vec``; ``workers`` is the number of training threads.
    sample : float
        Down-sampling threshold for frequent words (gensim's ``sample``; 0 disables it).
    seed : int
        Seed for initialisation and sampling. Runs are reproducible with ``workers=1``.
    lowercase, punctuation, numbers
        Tokenisation (see :mod:`osler.kernels.text.tokenize`); saved and reused for queries.
    projection_terms : int
        How many of the most frequent words the projection plot shows.
    progress : callable, optional
        ``progress(fraction, message)``, called after every epoch; exceptions propagate.

    Returns
    -------
    dict
        ``{"model": {"framework": "word2vec", "file": "vectors.bin", ...}, "words_per_second":
        ..., ...}``. ``words_per_second`` is corpus words × epochs / training seconds (gensim's
        raw word count); ``effective_words_per_second`` counts words left after ``min_count``
        and down-sampling, as gensim's log does.

    Examples
    --------
    >>> summary = train_word2vec(Path("corpus.txt"), Path("out"), min_count=1)  # doctest: +SKIP
    >>> similar_words(load_word2vec(Path("out")), "fracture", topn=5)  # doctest: +SKIP
    """
    from gensim.models import Word2Vec

    if architecture not in ("skipgram", "cbow"):
        raise InputError(f"architecture must be 'skipgram' or 'cbow', got {architecture!r}")
    _check_positive(vector_size=vector_size, window=window, min_count=min_count, epochs=epochs,
                    workers=workers, projection_terms=projection_terms)
    if not isinstance(negative, int) or negative < 1:
        raise InputError(f"negative must be a positive integer, got {negative!r}")
    if not 0 <= sample < 1:
        raise InputError(f"sample must be in [0, 1), got {sample!r}")
    out_dir = Path(out_dir)
    tokenizer = Tokenizer(TokenizerConfig(level="word", lowercase=lowercase,
                                          punctuation=punctuation, numbers=numbers))
    report(progress, 0.0, "reading corpus")
    documents = read_documents(Path(dataset_path))
    corpus = tokenize_corpus(documents, tokenizer)
    n_tokens = sum(len(s) for s in corpus)
    if n_tokens == 0:
        raise InputError(f"{Path(dataset_path).name}: no words after tokenisation")

    model = Word2Vec(vector_size=vector_size, window=window, min_count=min_count,
                     sg=1 if architecture == "skipgram" else 0, negative=negative, sample=sample,
                     seed=seed, workers=workers, hashfxn=stable_hash)
    model.build_vocab(corpus)
    if len(model.wv) == 0:
        raise InputError(f"{Path(dataset_path).name}: no word occurs at least "
                         f"min_count={min_count} times")
    report(progress, 0.05, f"vocabulary of {len(model.wv)} words")
    started = time.perf_counter()
    effective_words, raw_words = model.train(
        corpus, total_examples=model.corpus_count, epochs=epochs,
        callbacks=[_epoch_callback(epochs, progress)])
    seconds = time.perf_counter() - started

    model.wv.save_word2vec_format(str(out_dir / VECTORS_FILE), binary=True)
    write_vocabulary(model.wv, out_dir / VOCAB_FILE)
    tokenizer.save(out_dir / TOKENIZER_FILE)
    report(progress, 0.95, "drawing projection")
    plot_projection(model.wv, out_dir / PROJECTION_FILE, terms=projection_terms)
    report(progress, 1.0, "done")
    return {
        "model": {
            "framework": "word2vec",
            "file": VECTORS_FILE,
            "tokenizer_file": TOKENIZER_FILE,
            "tokenizer": tokenizer.to_dict()["config"],
            "architecture": architecture,
            "vector_size": vector_size,
            "vocabulary_size": len(model.wv),
        },
        "documents": len(documents),
        "tokens": n_tokens,
        "epochs": epochs,
        "train_seconds": round(seconds, 4),
        "words_per_second": round(raw_words / seconds, 1) if seconds > 0 else None,
        "effective_words_per_second": (round(effective_words / seconds, 1)
                                       if seconds > 0 else None),
        "most_frequent": list(model.wv.index_to_key[:10]),
        "artifacts": [VECTORS_FILE, VOCAB_FILE, TOKENIZER_FILE, PROJECTION_FILE],
    }


def write_vocabulary(kv: KeyedVectors, path: Path) -> None:
    """Write ``word<TAB>count`` lines, most frequent first, after a header."""
    with Path(path).open("w", encoding="utf-8") as handle:
        handle.write("word\tcount\n")
        for word in kv.index_to_key:
            handle.write(f"{word}\t{int(kv.get_vecattr(word, 'count'))}\n")


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project rows onto their first two principal components (float64, signs fixed)."""
    centred = np.asarray(vectors, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2]
    # SVD signs are arbitrary; fix them so the same model always draws the same picture.
    signs = np.sign(components[np.arange(len(components)),
                               np.abs(components).argmax(axis=1)])
    coords = centred @ (components * signs[:, None]).T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords


def plot_projection(kv: KeyedVectors, path: Path, *, terms: int = 100) -> None:
    """Scatter the most frequent ``terms`` words on their 2-D PCA projection, labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = list(kv.index_to_key[:terms])
    coords = pca_2d(kv[words]) if len(words) > 1 else np.zeros((len(words), 2))
    fig, ax = plt.subplots(figsize=(10, 8), dpi=100)
    try:
        ax.scatter(coords[:, 0], coords[:, 1], s=8, color="tab:blue")
        for word, (x, y) in zip(words, coords, strict=True):
            ax.annotate(word, (x, y), fontsize=7, alpha=0.8, xytext=(2, 2),
                        textcoords="offset points")
        ax.set_title(f"word2vec: {len(words)} most frequent words, PCA")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


# -- inference ------------------------------------------------------------------------------

def load_word2vec(path: Path) -> KeyedVectors:
    """Load vectors from ``vectors.bin`` (word2vec binary format) or a model folder holding it."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if path.is_dir():
        path = path / VECTORS_FILE
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=True)
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as exc:
        raise InputError(f"{path.name}: not a word2vec binary file ({exc})") from exc


def load_word2vec_tokenizer(model_dir: Path) -> Tokenizer | None:
    """The tokenizer saved beside ``vectors.bin``, or None when there is none."""
    path = Path(model_dir) / TOKENIZER_FILE
    return Tokenizer.load(path) if path.is_file() else None


def _normalise_word(word: str, tokenizer: Tokenizer | None) -> str:
    if not isinstance(word, str) or not word.strip():
        raise InputError("word must be a non-empty string")
    if tokenizer is None:
        return word
    tokens = tokenizer.tokenize(word)
    if len(tokens) != 1:
        raise InputError(f"{word!r} is {len(tokens)} tokens after tokenisation; query one word")
    return tokens[0]


def similar_words(kv: KeyedVectors, word: str, topn: int = 10, *,
                  tokenizer: Tokenizer | None = None) -> list[dict]:
    """The ``topn`` words with the highest cosine similarity to ``word``.

    Parameters
    ----------
    kv : KeyedVectors
        From :func:`load_word2vec`.
    word : str
        The query; with ``tokenizer`` it is normalised by the training rules (e.g. lower-cased).
    topn : int
        Number of neighbours, at most the vocabulary size minus one.
    tokenizer : Tokenizer, optional
        From :func:`load_word2vec_tokenizer`.

    Returns
    -------
    list of dict
        ``[{"word": str, "similarity": float}, ...]``, most similar first.

    Raises
    ------
    UnknownWordError
        The word is not in the vocabulary.
    """
    _check_positive(topn=topn)
    key = _normalise_word(word, tokenizer)
    if key not in kv.key_to_index:
        raise UnknownWordError([key])
    topn = min(topn, len(kv) - 1)
    if topn == 0:
        return []
    return [{"word": w, "similarity": float(s)} for w, s in kv.most_similar(key, topn=topn)]


def word_vectors(kv: KeyedVectors, words: Sequence[str], *,
                 tokenizer: Tokenizer | None = None) -> np.ndarray:
    """Vectors of ``words``: a ``(len(words), vector_size)`` float32 array (``.tolist()`` for JSON).

    Raises
    ------
    UnknownWordError
        Naming every word not in the vocabulary.
    """
    if isinstance(words, str) or not words:
        raise InputError("words must be a non-empty list of strings")
    keys = [_normalise_word(w, tokenizer) for w in words]
    unknown = [k for k in dict.fromkeys(keys) if k not in kv.key_to_index]
    if unknown:
        raise UnknownWordError(unknown)
    return np.stack([kv[k] for k in keys]).astype(np.float32)
