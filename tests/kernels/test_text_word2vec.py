"""word2vec kernel: artifacts, neighbours on a corpus with a known answer, and the binary format."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from osler.kernels.errors import InputError, UnknownWordError
from osler.kernels.text import word2vec as w2v
from tests.kernels.text_data import GROUPS, write_group_corpus

PARAMS = {"vector_size": 16, "window": 3, "min_count": 1, "epochs": 10, "workers": 1,
          "sample": 0.0, "seed": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("w2v")
    corpus = root / "corpus.txt"
    sentences = write_group_corpus(corpus)
    out = root / "model"
    out.mkdir()
    calls = []
    summary = w2v.train_word2vec(corpus, out, progress=lambda f, m: calls.append((f, m)),
                                 **PARAMS)
    return {"corpus": corpus, "sentences": sentences, "out": out, "summary": summary,
            "calls": calls}


def test_artifacts_summary_and_progress(trained):
    out, summary = trained["out"], trained["summary"]
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["artifacts"])
    assert summary["model"]["framework"] == "word2vec"
    assert summary["model"]["file"] == "vectors.bin"
    assert summary["tokens"] == 4 * len(trained["sentences"])
    assert summary["words_per_second"] > 0
    epoch_messages = [m for _, m in trained["calls"] if m.startswith("epoch")]
    assert epoch_messages == [f"epoch {i}/10" for i in range(1, 11)]
    fractions = [f for f, _ in trained["calls"]]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert (out / "projection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vectors_have_vocabulary_by_vector_size_shape(trained):
    kv = w2v.load_word2vec(trained["out"])
    assert kv.vectors.shape == (32, 16)
    assert set(kv.index_to_key) == {w for group in GROUPS for w in group}


def test_vocab_tsv_counts_match_the_corpus(trained):
    lines = (trained["out"] / "vocab.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "word\tcount"
    counts = {w: int(n) for w, n in (line.split("\t") for line in lines[1:])}
    assert counts == Counter(w for s in trained["sentences"] for w in s)


def test_similar_words_returns_the_co_occurring_group_first(trained):
    kv = w2v.load_word2vec(trained["out"])
    tokenizer = w2v.load_word2vec_tokenizer(trained["out"])
    for group in GROUPS[:4]:
        # the query goes through the saved tokenizer: upper case is folded as in training
        result = w2v.similar_words(kv, group[0].upper(), topn=3, tokenizer=tokenizer)
        assert {r["word"] for r in result} == set(group[1:])


def test_similar_words_matches_a_float64_cosine_reference(trained):
    kv = w2v.load_word2vec(trained["out"])
    vectors = kv.vectors.astype(np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    query = kv.key_to_index["g2w1"]
    sims = unit @ unit[query]
    sims[query] = -np.inf
    expected = np.argsort(-sims, kind="stable")[:6]
    result = w2v.similar_words(kv, "g2w1", topn=6)
    assert [r["word"] for r in result] == [kv.index_to_key[i] for i in expected]
    np.testing.assert_allclose([r["similarity"] for r in result], sims[expected], atol=1e-5)


def test_vectors_bin_equals_gensim_trained_directly(trained):
    """Same corpus tokens, parameters and seed with one worker: gensim is deterministic."""
    from gensim.models import Word2Vec

    model = Word2Vec(trained["sentences"], vector_size=16, window=3, min_count=1, epochs=10,
                     workers=1, sample=0.0, seed=0, sg=1, negative=5, hashfxn=w2v.stable_hash)
    kv = w2v.load_word2vec(trained["out"] / "vectors.bin")
    assert kv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(kv.vectors, model.wv.vectors)


def test_binary_format_round_trips_exactly(tmp_path):
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(1)
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(["heart", "fémur", "c5"], rng.normal(size=(3, 5)).astype(np.float32))
    kv.save_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    assert not (tmp_path / "vectors.bin").read_bytes().startswith(b"\x80")  # not a pickle
    loaded = w2v.load_word2vec(tmp_path / "vectors.bin")
    assert loaded.index_to_key == ["heart", "fémur", "c5"]
    np.testing.assert_array_equal(loaded.vectors, kv.vectors)


def test_word_vectors_and_unknown_words(trained):
    kv = w2v.load_word2vec(trained["out"])
    got = w2v.word_vectors(kv, ["g0w0", "g5w3", "g0w0"])
    np.testing.assert_array_equal(got, kv.vectors[[kv.key_to_index[w]
                                                   for w in ("g0w0", "g5w3", "g0w0")]])
    with pytest.raises(UnknownWordError, match="unknown word 'aspirin'") as info:
        w2v.similar_words(kv, "aspirin")
    assert info.value.words == ["aspirin"]
    with pytest.raises(UnknownWordError, match="'x1', 'x2'"):
        w2v.word_vectors(kv, ["g0w0", "x1", "x2", "x1"])
    with pytest.raises(InputError, match="2 tokens"):
        w2v.similar_words(kv, "two words", tokenizer=w2v.load_word2vec_tokenizer(trained["out"]))


def test_pca_matches_singular_vectors_up_to_sign():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6)) * np.array([5, 3, 1, 1, 1, 1])
    coords = w2v.pca_2d(x)
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.abs(coords), np.abs(u[:, :2] * s[:2]), atol=1e-10)


def test_progress_exception_stops_training(tmp_path):
    corpus = tmp_path / "c.txt"
    write_group_corpus(corpus, sentences=40)

    class Cancelled(Exception):
        pass

    def cancel_at_epoch_2(fraction, message):
        if message == "epoch 2/10":
            raise Cancelled

    with pytest.raises(Cancelled):
        w2v.train_word2vec(corpus, tmp_path, progress=cancel_at_epoch_2, **PARAMS)
    assert not (tmp_path / "vectors.bin").exists()


def test_min_count_above_every_word_is_an_input_error(tmp_path):
    corpus = tmp_path / "c.txt"
    write_group_corpus(corpus, sentences=16)
    with pytest.raises(InputError, match="min_count=100"):
        w2v.train_word2vec(corpus, tmp_path, **{**PARAMS, "min_count": 100})
