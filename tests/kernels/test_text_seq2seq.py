"""seq2seq: decoding equals step-by-step references on the saved model; metrics; bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.text import seq2seq as s2s
from osler.kernels.text.tokenize import Tokenizer, TokenizerConfig
from tests.kernels.text_data import write_digit_pairs

SMALL = {"embedding_dim": 8, "units": 16, "batch_size": 32, "learning_rate": 1e-2,
         "target_level": "char"}
SOURCES = ["one two three", "Nine Nine", "five four three", "seven"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2s")
    data = root / "pairs.jsonl"
    write_digit_pairs(data)
    out = root / "model"
    out.mkdir()
    summary = s2s.train_seq2seq(data, out, attention="dot", epochs=2, max_target_length=6,
                                **SMALL)
    return {"out": out, "summary": summary, "bundle": s2s.load_seq2seq(out)}


def _reference_greedy(bundle, source: str) -> str:
    """Greedy decoding by re-running the saved teacher-forcing model on the growing prefix."""
    x = bundle.source_tokenizer.encode_batch([source], bundle.max_source_length)
    prefix = [2]
    out = []
    for _ in range(bundle.max_target_length + 1):
        probs = np.asarray(bundle.model.predict_on_batch([x, np.array([prefix], np.int32)]))
        last = probs[0, -1].astype(np.float64)
        last[[0, 2]] = -1.0  # padding and start are never emitted
        token = int(last.argmax())
        if token == 3 or len(out) == bundle.max_target_length:
            break
        out.append(token)
        prefix.append(token)
    return bundle.target_tokenizer.decode(out)


def test_artifacts_and_metrics_file(trained):
    out, summary = trained["out"], trained["summary"]
    assert sorted(summary["artifacts"]) == sorted(
        p.name for p in out.iterdir() if p.name != "__pycache__")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["samples"] == 30
    assert set(metrics) >= {"exact_match", "token_accuracy", "chrf", "prefix_match"}
    assert summary["model"]["target_tokenizer"]["level"] == "char"


def test_greedy_decode_equals_step_by_step_reference(trained):
    bundle = trained["bundle"]
    assert s2s.decode(bundle, SOURCES) == [_reference_greedy(bundle, s) for s in SOURCES]


def test_beam_width_one_equals_greedy(trained):
    bundle = trained["bundle"]
    assert s2s.decode(bundle, SOURCES, beam_width=1) == s2s.decode(bundle, SOURCES)
    # beam width 1 takes the beam code path when called per source
    x = bundle.source_tokenizer.encode_batch(SOURCES, bundle.max_source_length)
    greedy = s2s._greedy(bundle, x)
    assert [s2s._beam(bundle, x[i:i + 1], 1) for i in range(len(SOURCES))] == greedy


def test_test_predictions_file_equals_decode(trained):
    import csv

    with (trained["out"] / "test_predictions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lines = (trained["out"].parent / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    sources = [json.loads(lines[int(r["line"]) - 1])["source"] for r in rows[:8]]
    assert s2s.decode(trained["bundle"], sources) == [r["prediction"] for r in rows[:8]]


@pytest.mark.parametrize("attention", ["none", "additive"])
def test_wide_beam_finds_the_exhaustive_best_sequence(attention):
    """Target alphabet {a, b} and length ≤ 3: a beam wider than every candidate set is exact.

    The weights are random (seeded): beam search must be exact whatever the model says.
    """
    import keras

    keras.utils.set_random_seed(7)
    source_tok = Tokenizer(TokenizerConfig()).with_vocabulary(["alpha beta"])
    target_tok = Tokenizer(s2s.target_tokenizer_config("char")).with_vocabulary(["ab"])
    model = s2s.build_model(source_vocabulary=len(source_tok.vocabulary),
                            target_vocabulary=len(target_tok.vocabulary), embedding_dim=4,
                            units=4, attention=attention)
    bundle = s2s.Seq2SeqBundle(model, *s2s.inference_models(model, attention), source_tok,
                               target_tok, max_source_length=5, max_target_length=3,
                               attention=attention)
    emit = [1, 4, 5]  # every id except padding, start and end

    def scores(x, seqs):
        """Summed log-probabilities (plus the end token below the limit), one model call."""
        t_in = np.array([[2, *seq] for seq in seqs], np.int32)
        probs = np.asarray(model.predict_on_batch([np.repeat(x, len(seqs), axis=0), t_in]),
                           dtype=np.float64)
        return [sum(np.log(p[i, t]) for i, t in enumerate(seq))
                + (np.log(p[len(seq), 3]) if len(seq) < 3 else 0.0)
                for p, seq in zip(probs, seqs, strict=True)]

    for source in ["alpha beta", "beta beta alpha"]:
        x = source_tok.encode_batch([source], bundle.max_source_length)
        scored = []
        for n in range(4):
            seqs = [list(c) for c in itertools.product(emit, repeat=n)]
            scored += list(zip(scores(x, seqs), range(len(scored), len(scored) + len(seqs)),
                               seqs, strict=True))
        best = max(scored)[2]
        assert s2s.decode(bundle, [source], beam_width=40) == [target_tok.decode(best)]
        assert s2s.decode(bundle, [source], beam_width=1) == s2s.decode(bundle, [source])


def test_sequence_metrics_on_known_values():
    tok = Tokenizer(TokenizerConfig(level="char", lowercase=False))
    predicted = [list("I21.9"), list("S72"), list("J18.0")]
    references = [list("I21.9"), list("S72.1"), list("J45.0")]
    m = s2s.sequence_metrics(predicted, references, tok, prefix_lengths=(3,))
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["token_accuracy"] == pytest.approx((5 + 3 + 3) / 15)
    assert m["prefix_match"] == {"3": pytest.approx(2 / 3)}


def test_chrf_hand_computed():
    assert s2s.chrf(["abc"], ["abc"]) == pytest.approx(100.0)
    assert s2s.chrf(["xyz"], ["abc"]) == 0.0
    # hyp "ab", ref "abc": order 1 P=2/2 R=2/3, order 2 P=1/1 R=1/2; order 3 has no hyp n-gram.
    p, r = 1.0, (2 / 3 + 1 / 2) / 2
    assert s2s.chrf(["a b"], ["abc"]) == pytest.approx(100 * 5 * p * r / (4 * p + r))


def test_target_longer_than_limit_names_the_line(tmp_path):
    data = tmp_path / "p.jsonl"
    data.write_text('{"source": "a b", "target": "AB"}\n\n'
                    '{"source": "c", "target": "ABCDEFGH"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="p.jsonl line 3: target has 8 tokens, longer than the "
                                         "limit max_target_length=6"):
        s2s.train_seq2seq(data, tmp_path, max_target_length=6, target_level="char")


def test_decode_rejects_a_bare_string(trained):
    with pytest.raises(InputError, match="list of strings"):
        s2s.decode(trained["bundle"], "one two")
