"""Clinical text models on ICD-10-CM through the embedded service, with baselines in the same run.

Run from the repository root::

    python bench/text_models.py                      # all three: word2vec, classifier, seq2seq
    python bench/text_models.py --only word2vec

Datasets come from ``simple-icd-10-cm`` (``osler.kernels.text.icd10``: every billable code, a seeded
80/10/10 split by code). Printed, each from this one run:

- word2vec: words per second of gensim called directly on the same tokens, and through the service
  (inside training, and end to end POST -> succeeded);
- chapter classifier (LSTM): test accuracy and macro-F1 beside the majority class and a TF-IDF +
  logistic-regression baseline on the same split;
- seq2seq description -> code: exact match on full codes and on the category (first 3 characters).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from osler.api.cli.embedded import EmbeddedStack, free_port
from osler.api.client import OslerClient
from osler.kernels.text.icd10 import build_icd10_datasets
from osler.workers.settings import Settings

WORD2VEC = {"vector_size": 100, "window": 5, "min_count": 5, "epochs": 5, "workers": 2,
            "seed": 0}
CLASSIFIER = {"epochs": 4, "bidirectional": True, "max_length": 32, "units": 64,
              "batch_size": 128, "learning_rate": 0.003}
SEQ2SEQ = {"target_level": "char", "max_target_length": 8, "max_source_length": 32,
           "attention": "dot", "units": 128, "epochs": 5, "batch_size": 128,
           "learning_rate": 0.003}


def run_job(client: OslerClient, kind: str, params: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    job = client.submit(kind, params)
    done = client.wait(job["id"])
    took = time.perf_counter() - start
    if done["state"] != "succeeded":
        raise SystemExit(f"{kind} {done['state']}: {done['error']}")
    return took, done


def bench_word2vec(client: OslerClient, corpus: Path) -> None:
    from gensim.models import Word2Vec

    from osler.kernels.text.tokenize import Tokenizer, TokenizerConfig
    from osler.kernels.text.word2vec import tokenize_corpus

    documents = [line for line in corpus.read_text().splitlines() if line.strip()]
    sentences = tokenize_corpus(documents, Tokenizer(TokenizerConfig()))
    words = sum(len(s) for s in sentences)
    model = Word2Vec(vector_size=WORD2VEC["vector_size"], window=WORD2VEC["window"],
                     min_count=WORD2VEC["min_count"], workers=WORD2VEC["workers"], sg=1,
                     seed=0)
    model.build_vocab(sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=WORD2VEC["epochs"])
    direct = words * WORD2VEC["epochs"] / (time.perf_counter() - start)
    print(f"word2vec corpus: {len(documents)} descriptions, {words} tokens")
    print(f"gensim directly (skip-gram, same tokens): {direct:,.0f} words/s")
    dataset = client.upload(corpus)
    took, done = run_job(client, "train-word2vec", {"dataset": dataset["id"], **WORD2VEC})
    inside = done["result"]["words_per_second"]
    print(f"osler service, training inside the job:  {inside:,.0f} words/s "
          f"({inside / direct:.2f}x gensim)")
    print(f"osler service, POST -> succeeded:        {words * WORD2VEC['epochs'] / took:,.0f} "
          f"words/s ({took:.1f} s, incl. tokenising, vocabulary and projection plot)")


def bench_classifier(client: OslerClient, chapters: Path) -> None:
    from osler.kernels.text.baselines import tfidf_logistic_baseline

    baseline = tfidf_logistic_baseline(chapters)
    dataset = client.upload(chapters)
    took, done = run_job(client, "train-sequence-classifier",
                         {"dataset": dataset["id"], **CLASSIFIER})
    metrics = json.loads(client._request(  # noqa: SLF001 - the CLI's download, as JSON
        "GET", f"/v1/jobs/{done['id']}/artifacts/metrics.json").text)
    print(f"chapter classifier, test split ({metrics.get('samples', '?')} codes):")
    majority = baseline["majority"]
    print(f"  majority class (chapter {majority['label']}): accuracy "
          f"{majority['accuracy']:.3f}, macro-F1 {majority['macro_f1']:.3f}")
    tfidf = baseline["tfidf_logistic"]
    print(f"  TF-IDF + logistic regression:  accuracy {tfidf['accuracy']:.3f}, "
          f"macro-F1 {tfidf['macro_f1']:.3f} ({baseline['seconds']:.0f} s)")
    print(f"  osler LSTM ({took:.0f} s via the service): accuracy {metrics['accuracy']:.3f}, "
          f"macro-F1 {metrics['macro_f1']:.3f}")


def bench_seq2seq(client: OslerClient, codes: Path) -> None:
    dataset = client.upload(codes)
    took, done = run_job(client, "train-seq2seq", {"dataset": dataset["id"], **SEQ2SEQ})
    metrics = json.loads(client._request(  # noqa: SLF001
        "GET", f"/v1/jobs/{done['id']}/artifacts/metrics.json").text)
    prefix = metrics.get("prefix_match", {}).get("3")
    print(f"seq2seq description -> code ({took:.0f} s via the service): exact match "
          f"{metrics['exact_match']:.3f}, category (first 3 characters) {prefix:.3f}, "
          f"token accuracy {metrics['token_accuracy']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["word2vec", "classifier", "seq2seq"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = build_icd10_datasets(root / "icd10", seed=0)
        print(f"ICD-10-CM: {manifest['codes']} billable codes, splits {manifest['splits']}")
        files = {k: root / "icd10" / v for k, v in manifest["files"].items()}
        settings = Settings.from_env().with_changes(data_dir=root / "service", redis_url=None,
                                                    dask_scheduler=None)
        with EmbeddedStack(settings, port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))
            if args.only in (None, "word2vec"):
                bench_word2vec(client, files["corpus"])
            if args.only in (None, "classifier"):
                bench_classifier(client, files["chapters"])
            if args.only in (None, "seq2seq"):
                bench_seq2seq(client, files["codes"])


if __name__ == "__main__":
    main()
