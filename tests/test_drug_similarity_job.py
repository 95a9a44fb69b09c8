"""The drug-similarity kind through the service, checked against RDKit on real molecules."""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest

from tests.conftest import auth, upload, wait_for_job

rdkit = pytest.importorskip("rdkit")
from rdkit import Chem, DataStructs, RDConfig  # noqa: E402
from rdkit.Chem import rdFingerprintGenerator  # noqa: E402

NCI = os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi")


def nci_lines(start: int, count: int) -> list[str]:
    with open(NCI) as handle:
        lines = handle.read().splitlines()
    return lines[start : start + count]


def morgan(smiles: str):
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return generator.GetFingerprint(Chem.MolFromSmiles(smiles))


def submit(client, token, params):
    return client.post(
        "/v1/jobs", json={"kind": "drug-similarity", "params": params}, headers=auth(token)
    )


def test_all_pairs_matrix_equals_rdkit_and_bad_smiles_are_reported(client, token):
    lines = nci_lines(0, 60)
    lines.insert(10, "not_a_smiles bad-1")
    library = upload(client, token, "lib.smi", ("\n".join(lines) + "\n").encode()).get_json()
    job = submit(client, token, {"library": library["id"], "mode": "all-pairs", "k": 3}).get_json()
    done = wait_for_job(client, token, job["id"], timeout=180)
    assert done["state"] == "succeeded", done["error"]
    assert done["result"]["n_invalid_library"] == 1
    names = {a["name"] for a in done["artifacts"]}
    assert {"matrix.npy", "hits.csv", "invalid.csv"} <= names
    get = lambda name: client.get(  # noqa: E731
        f"/v1/jobs/{job['id']}/artifacts/{name}", headers=auth(token)
    )
    matrix = np.load(io.BytesIO(get("matrix.npy").data))
    valid = [line for line in lines if not line.startswith("not_a_smiles")]
    fps = [morgan(line.split()[0]) for line in valid]
    assert matrix.shape == (len(fps), len(fps))
    for row in (0, 7, 33):
        expected = DataStructs.BulkTanimotoSimilarity(fps[row], fps)
        np.testing.assert_allclose(matrix[row], expected, rtol=1e-6, atol=1e-7)
    invalid = list(csv.DictReader(io.StringIO(get("invalid.csv").data.decode())))
    assert len(invalid) == 1
    assert invalid[0]["id"] == "bad-1"
    assert (invalid[0]["unit"], int(invalid[0]["number"])) == ("line", 11)


def test_top_k_hits_equal_a_brute_force_sort_over_rdkit(client, token):
    library_lines = nci_lines(100, 150)
    query_lines = nci_lines(300, 5)
    library = upload(client, token, "lib.smi", "\n".join(library_lines).encode()).get_json()
    queries = upload(client, token, "q.smi", "\n".join(query_lines).encode()).get_json()
    job = submit(client, token, {"library": library["id"], "queries": queries["id"], "k": 5,
                                 "plots": False}).get_json()
    done = wait_for_job(client, token, job["id"], timeout=180)
    assert done["state"] == "succeeded", done["error"]
    hits = list(csv.DictReader(io.StringIO(client.get(
        f"/v1/jobs/{job['id']}/artifacts/hits.csv", headers=auth(token)).data.decode())))
    library_fps = [morgan(line.split()[0]) for line in library_lines]
    library_ids = [line.split()[1] for line in library_lines]
    for query_line in query_lines:
        smiles, query_id = query_line.split()[:2]
        sims = np.array(DataStructs.BulkTanimotoSimilarity(morgan(smiles), library_fps))
        order = sorted(range(len(sims)), key=lambda i: (-np.float32(sims[i]), i))[:5]
        got = [h for h in hits if h["query_id"] == query_id]
        assert [h["hit_id"] for h in got] == [library_ids[i] for i in order]
        # hits.csv prints six decimals
        np.testing.assert_allclose([float(h["similarity"]) for h in got], sims[order], atol=1e-6)


def test_all_pairs_over_the_size_limit_is_a_422(client, token, settings):
    n = int((settings.max_all_pairs_bytes / 4) ** 0.5) + 10
    lines = [f"{'C' * (1 + i % 20)} m{i}" for i in range(n)]
    library = upload(client, token, "big.smi", "\n".join(lines).encode()).get_json()
    response = submit(client, token, {"library": library["id"], "mode": "all-pairs"})
    assert response.status_code == 422
    assert "top-k" in response.get_json()["detail"]


def test_file_with_no_valid_molecule_fails_clearly(client, token):
    library = upload(client, token, "bad.smi", b"xx1\nyy2 zz\n").get_json()
    job = submit(client, token, {"library": library["id"]}).get_json()
    done = wait_for_job(client, token, job["id"], timeout=120)
    assert done["state"] == "failed"
    assert done["error"]["type"] == "InputError"
    assert "valid" in done["error"]["message"]


def test_csv_without_the_named_column_is_a_422(client, token):
    library = upload(client, token, "lib.csv", b"smi,name\nCCO,ethanol\n").get_json()
    response = submit(client, token, {"library": library["id"]})
    assert response.status_code == 422
    assert "smiles" in response.get_json()["detail"]


def test_threshold_mode_returns_every_pair_above_it_as_csr(client, token):
    from scipy import sparse

    library_lines = nci_lines(100, 150) + [nci_lines(100, 1)[0].split()[0] + " dup-1"]
    query_lines = nci_lines(300, 8) + nci_lines(105, 1)  # the last is library row 5
    library = upload(client, token, "lib.smi", "\n".join(library_lines).encode()).get_json()
    queries = upload(client, token, "q.smi", "\n".join(query_lines).encode()).get_json()
    # mode threshold without a threshold is refused at the gateway
    response = submit(client, token, {"library": library["id"], "mode": "threshold"})
    assert response.status_code == 422
    assert "threshold" in response.get_json()["detail"]
    job = submit(client, token, {"library": library["id"], "queries": queries["id"],
                                 "mode": "threshold", "threshold": 0.3,
                                 "plots": False}).get_json()
    done = wait_for_job(client, token, job["id"], timeout=180)
    assert done["state"] == "succeeded", done["error"]
    assert done["params"]["max_hits"] == 1_000_000
    matrix = sparse.load_npz(io.BytesIO(client.get(
        f"/v1/jobs/{job['id']}/artifacts/matrix.npz", headers=auth(token)).data))
    library_fps = [morgan(line.split()[0]) for line in library_lines]
    expected = np.array([DataStructs.BulkTanimotoSimilarity(morgan(line.split()[0]),
                                                            library_fps)
                         for line in query_lines]).astype(np.float32)
    expected[expected < np.float32(0.3)] = 0
    np.testing.assert_array_equal(matrix.toarray(), expected)
    hits = list(csv.DictReader(io.StringIO(client.get(
        f"/v1/jobs/{job['id']}/artifacts/hits.csv", headers=auth(token)).data.decode())))
    assert len(hits) == done["result"]["n_hits"] == int((expected > 0).sum())
    assert expected[-1, 5] == 1.0 and (expected[:-1] > 0).any()
