"""``extends`` through the service: an extension's artifacts equal a full job's, and a job that
cannot be extended is a 422 naming why at submit, or a failed job naming the difference."""

from __future__ import annotations

import io

import numpy as np
import pytest

from osler.kernels.genome.simulate import balding_nichols
from tests.conftest import auth, npy_bytes, upload, wait_for_job

N_OLD, N = 30, 41
MULTIALLELIC_VCF = (b"##fileformat=VCFv4.2\n##contig=<ID=1>\n"
                    b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                    b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
                    b"1\t100\trs1\tA\tG,T\t.\tPASS\t.\tGT\t0/1\n")
"""A VCF that passes the submit-time check (its header) and fails in the worker."""


@pytest.fixture(scope="module")
def cohorts() -> tuple[np.ndarray, np.ndarray]:
    g, _ = balding_nichols(N, 400, missing_rate=0.02, seed=5)
    return g[:N_OLD], g


def submit(client, token, kind, params):
    return client.post("/v1/jobs", json={"kind": kind, "params": params}, headers=auth(token))


def finished(client, token, kind, params):
    response = submit(client, token, kind, params)
    assert response.status_code == 202, response.get_json()
    return wait_for_job(client, token, response.get_json()["id"], timeout=180)


def artifact(client, token, job, name) -> bytes:
    response = client.get(f"/v1/jobs/{job['id']}/artifacts/{name}", headers=auth(token))
    assert response.status_code == 200
    return response.data


def refused(client, token, kind, params, detail: str) -> None:
    for route in ("/v1/jobs", "/v1/jobs/validate"):
        response = client.post(route, json={"kind": kind, "params": params}, headers=auth(token))
        assert response.status_code == 422, (route, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert detail in response.get_json()["detail"], response.get_json()["detail"]


def test_a_grown_cohort_extends_a_finished_job(client, token, new_token, cohorts) -> None:
    old_cohort, cohort = cohorts
    old_set = upload(client, token, "old.npy", npy_bytes(old_cohort)).get_json()
    new_set = upload(client, token, "new.npy", npy_bytes(cohort)).get_json()
    old = finished(client, token, "genome-distance", {"dataset": old_set["id"], "metric": "king",
                                                      "plots": False})
    assert old["state"] == "succeeded", old["error"]
    assert "inputs.json" in {a["name"] for a in old["artifacts"]}
    # When the grown cohort extends it
    params = {"dataset": new_set["id"], "metric": "king", "extends": old["id"]}
    grown = finished(client, token, "genome-distance", params)
    full = finished(client, token, "genome-distance",
                    {"dataset": new_set["id"], "metric": "king", "plots": False})
    # Then only the new rows were computed, and every matrix file equals a full job's
    assert grown["state"] == "succeeded", grown["error"]
    assert grown["result"]["extends"] == old["id"]
    assert grown["result"]["rows_computed"] == N - N_OLD
    assert grown["params"]["extends"] == old["id"]
    for name in ("matrix.npy", "matrix.king.bin", "matrix.king.id", "samples.txt"):
        assert artifact(client, token, grown, name) == artifact(client, token, full, name), name
    matrix = np.load(io.BytesIO(artifact(client, token, grown, "matrix.npy")))
    assert matrix.shape == (N, N)

    # Submit-time refusals name the problem, as for a dataset id that is not the caller's
    base = {"dataset": new_set["id"], "metric": "king"}
    refused(client, token, "genome-distance",
            {**base, "extends": "00000000-0000-4000-8000-000000000000"},
            "params.extends: no job with id '00000000-0000-4000-8000-000000000000'")
    other = new_token("other")
    refused(client, other, "genome-distance",
            {"dataset": upload(client, other, "c.npy", npy_bytes(cohort)).get_json()["id"],
             "metric": "king", "extends": old["id"]},
            f"params.extends: no job with id '{old['id']}'")
    refused(client, token, "genome-distance", {**base, "metric": "ibs", "extends": old["id"]},
            "params.metric: 'ibs' here but 'king' in the job named by extends")
    refused(client, token, "genome-distance", {**base, "maf": 0.05, "extends": old["id"]},
            "params.maf: 0.05 here but None in the job named by extends")
    refused(client, token, "genome-distance", {**base, "metric": "grm", "extends": old["id"]},
            "params.extends: a grm matrix cannot be extended: its standardisation uses the "
            "allele frequencies of all samples")
    library = upload(client, token, "lib.smi", b"CCO ethanol\nc1ccccc1 benzene\n").get_json()
    refused(client, token, "drug-similarity",
            {"library": library["id"], "mode": "all-pairs", "extends": old["id"]},
            f"params.extends: job {old['id']} is a genome-distance job, not drug-similarity")
    vcf = upload(client, token, "multiallelic.vcf", MULTIALLELIC_VCF).get_json()
    failed = finished(client, token, "genome-distance", {"dataset": vcf["id"], "metric": "king"})
    assert failed["state"] == "failed"
    refused(client, token, "genome-distance", {**base, "extends": failed["id"]},
            f"params.extends: job {failed['id']} is failed; only a succeeded job can be "
            "extended")

    # A cohort whose earlier samples' calls changed fails, naming the difference
    changed = cohort.copy()
    changed[3, 7] = (changed[3, 7] + 1) % 3
    changed_set = upload(client, token, "changed.npy", npy_bytes(changed)).get_json()
    bad = finished(client, token, "genome-distance",
                   {**params, "dataset": changed_set["id"]})
    assert bad["state"] == "failed" and bad["error"]["type"] == "InputError"
    assert f"the genotypes of the first {N_OLD} samples differ" in bad["error"]["message"]
    assert f"does not extend job {old['id']}" in bad["error"]["message"]


def test_a_grown_library_extends_an_all_pairs_job(client, token) -> None:
    from tests.kernels.molecule_data import nci_lines

    lines = nci_lines(120, start=40)
    old_lib = upload(client, token, "old.smi", "\n".join(lines[:80]).encode()).get_json()
    new_lib = upload(client, token, "new.smi", "\n".join(lines).encode()).get_json()
    base = {"mode": "all-pairs", "k": 4, "plots": False}
    old = finished(client, token, "drug-similarity", {**base, "library": old_lib["id"]})
    assert old["state"] == "succeeded", old["error"]
    grown = finished(client, token, "drug-similarity",
                     {**base, "library": new_lib["id"], "extends": old["id"]})
    full = finished(client, token, "drug-similarity", {**base, "library": new_lib["id"]})
    assert grown["state"] == "succeeded", grown["error"]
    assert (grown["result"]["extends"], grown["result"]["rows_computed"]) == (old["id"], 40)
    for name in ("matrix.npy", "hits.csv"):
        assert artifact(client, token, grown, name) == artifact(client, token, full, name), name
    refused(client, token, "drug-similarity",
            {"library": new_lib["id"], "extends": old["id"]},
            "params.mode: extends needs mode all-pairs")
    refused(client, token, "drug-similarity",
            {**base, "library": new_lib["id"], "metric": "dice", "extends": old["id"]},
            "params.metric: 'dice' here but 'tanimoto' in the job named by extends")
    top = finished(client, token, "drug-similarity", {"library": old_lib["id"], "k": 2,
                                                      "plots": False})
    refused(client, token, "drug-similarity",
            {**base, "library": new_lib["id"], "extends": top["id"]},
            "params.extends: the job it names ran mode top-k; only an all-pairs job can be "
            "extended")


def test_artifact_path_reads_only_a_succeeded_job_of_the_same_owner(settings, tmp_path) -> None:
    import uuid

    from osler.kernels.errors import InputError
    from osler.workers.attempt_files import AttemptFiles
    from osler.workers.ids import new_id
    from osler.workers.jobs import Job, JobStore
    from osler.workers.layout import describe_artifacts
    from osler.workers.redis_connection import connect
    from osler.workers.runner import JobContext
    from osler.workers.storage import open_store

    store = JobStore(connect(settings), settings.ttl_seconds)
    owner, other = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("owner", "other"))
    earlier = store.create(owner, "genome-distance", {})
    store.mark_running(earlier.id, 3, "token", 30)
    objects = open_store(settings)
    folder = AttemptFiles(objects, settings, owner, earlier.id, 1).out_dir  # a file store's
    folder.mkdir(parents=True)
    (folder / "inputs.json").write_text("{}")
    store.mark_succeeded(earlier.id, {}, describe_artifacts(folder), "token", 1)
    running = store.create(owner, "genome-distance", {})
    store.mark_running(running.id, 3, "token", 30)

    def context(tenant: str) -> JobContext:
        job = Job(id=new_id(), kind="genome-distance", owner=tenant, params={})
        files = AttemptFiles(objects, settings, tenant, job.id, 1)
        return JobContext(job, settings, store, None, files)  # type: ignore[arg-type]

    assert context(owner).artifact_path(earlier.id, "inputs.json") == folder / "inputs.json"
    for tenant, job_id, name, message in (
        (other, earlier.id, "inputs.json", f"no job with id '{earlier.id}'"),
        (owner, new_id(), "inputs.json", "no job with id"),
        (owner, running.id, "inputs.json", "is running; only a succeeded job's artifacts"),
        (owner, earlier.id, "matrix.npy", "has no artifact 'matrix.npy'"),
        (owner, earlier.id, "../inputs.json", "has no artifact"),
    ):
        with pytest.raises(InputError, match=message):
            context(tenant).artifact_path(job_id, name)
    (folder / "inputs.json").unlink()  # listed on the record, gone from the disk
    with pytest.raises(InputError, match="has no artifact 'inputs.json'"):
        context(owner).artifact_path(earlier.id, "inputs.json")
