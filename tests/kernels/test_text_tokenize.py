"""Tokenisation rules, vocabulary ids and the saved tokenizer round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.text.tokenize import (
    NUM,
    RESERVED,
    Tokenizer,
    TokenizerConfig,
    Vocabulary,
)


@pytest.mark.parametrize(("config", "text", "expected"), [
    (TokenizerConfig(), "Type 2 Diabetes, with HbA1c 7.5%",
     ["type", "2", "diabetes", "with", "hba1c", "7.5"]),
    (TokenizerConfig(), "Non-ST elevation (NSTEMI) myocardial infarction",
     ["non", "st", "elevation", "nstemi", "myocardial", "infarction"]),
    (TokenizerConfig(lowercase=False), "Fracture of T12", ["Fracture", "of", "T12"]),
    (TokenizerConfig(punctuation="split"), "Pain, left-sided.",
     ["pain", ",", "left", "-", "sided", "."]),
    (TokenizerConfig(numbers="mask"), "BP 120/80, 1,000 mg, c5",
     ["bp", NUM, NUM, NUM, "mg", "c5"]),
    (TokenizerConfig(), "ＦＥＭＵＲ １２", ["femur", "12"]),  # NFKC: full-width characters
    (TokenizerConfig(), "snake_case words", ["snake", "case", "words"]),
    (TokenizerConfig(level="char", lowercase=False), "S72.0", ["S", "7", "2", ".", "0"]),
    (TokenizerConfig(), "  ...  ", []),
])
def test_tokenize_follows_documented_rules(config, text, expected):
    assert Tokenizer(config).tokenize(text) == expected


def test_vocabulary_orders_by_count_then_alphabet_after_reserved_ids():
    vocab = Vocabulary.build([["b", "a", "c"], ["a", "c", "d"], ["d", "e"]], min_count=2)
    assert vocab.tokens == RESERVED + ("a", "c", "d")
    assert vocab.ids(["c", "zzz"]) == [5, 1]
    assert Vocabulary.build([["a", "b", "b"]], max_size=5).tokens == RESERVED + ("b",)


def test_encode_batch_pads_and_truncates_at_the_end():
    tok = Tokenizer(TokenizerConfig()).with_vocabulary(["a b c", "a b", "a"])
    # ids by count: a=4, b=5, c=6; unknown words map to 1
    x = tok.encode_batch(["a b c d", "c", ""], max_length=3)
    np.testing.assert_array_equal(x, [[4, 5, 6], [6, 0, 0], [0, 0, 0]])
    assert x.dtype == np.int32
    assert tok.encode("b", add_start=True, add_end=True) == [2, 5, 3]
    assert tok.decode([2, 4, 1, 3, 5]) == "a <unk>"


def test_saved_tokenizer_reloads_identically(tmp_path):
    config = TokenizerConfig(lowercase=False, punctuation="split", numbers="mask")
    texts = ["Acute MI, 2 days", "Chronic heart failure; EF 35%", "MI again"]
    tok = Tokenizer(config).with_vocabulary(texts)
    tok.save(tmp_path / "tokenizer.json")
    loaded = Tokenizer.load(tmp_path / "tokenizer.json")
    assert loaded.config == config
    assert loaded.to_dict() == tok.to_dict()
    queries = ["acute MI, 3 days", "EF 40% HEART"]
    assert [loaded.tokenize(q) for q in queries] == [tok.tokenize(q) for q in queries]
    np.testing.assert_array_equal(loaded.encode_batch(queries, 6), tok.encode_batch(queries, 6))
    # the file is plain JSON with the documented keys
    data = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert set(data) == {"format_version", "config", "vocabulary"}


def test_bad_config_and_bad_file_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="level"):
        TokenizerConfig(level="sentence")
    (tmp_path / "t.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="t.json"):
        Tokenizer.load(tmp_path / "t.json")
    with pytest.raises(InputError, match="reserved"):
        Vocabulary(tokens=("a", "b"))
