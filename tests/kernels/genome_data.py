"""Shared data, references and a Dask cluster for the genome-distance tests (imported explicitly).

References are float64 numpy written from PLINK's definitions, independent of the kernels.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
from pathlib import Path

import numpy as np


def simulate_cohort(n_samples: int = 60, min_variants: int = 2000, seed: int = 7,
                    missing_rate: float = 0.03) -> np.ndarray:
    """Diploid genotypes (int8, samples x variants, -1 missing) from stdpopsim's OutOfAfrica_3G09.

    Falls back to the numpy Balding-Nichols simulator when stdpopsim is not installed.
    """
    rng = np.random.default_rng(seed)
    try:
        import stdpopsim
    except ImportError:
        from osler.kernels.genome.simulate import balding_nichols

        g, _ = balding_nichols(n_samples, min_variants, missing_rate=missing_rate, seed=seed)
        return g
    species = stdpopsim.get_species("HomSap")
    model = species.get_demographic_model("OutOfAfrica_3G09")
    per_pop = -(-n_samples // 3)
    blocks = []
    total = 0
    length = 4e5
    while total < min_variants:
        contig = species.get_contig(length=length, mutation_rate=model.mutation_rate)
        ts = stdpopsim.get_engine("msprime").simulate(
            model, contig, {"YRI": per_pop, "CEU": per_pop, "CHB": per_pop},
            seed=seed + len(blocks))
        hap = ts.genotype_matrix()  # sites x haplotypes, individuals' nodes adjacent
        hap = hap[(hap <= 1).all(axis=1)]  # biallelic sites only
        g = (hap[:, 0::2] + hap[:, 1::2]).T[:n_samples]
        blocks.append(g)
        total += g.shape[1]
    g = np.concatenate(blocks, axis=1)[:, :min_variants].astype(np.int8)
    if missing_rate:
        g[rng.random(g.shape) < missing_rate] = -1
    return g


# --------------------------------------------------------------------------- references


def ref_dot(g: np.ndarray) -> np.ndarray:
    x = np.where(g >= 0, g, 0).astype(np.float64)
    return x @ x.T / g.shape[1]


def ref_counts(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum |g_i - g_j| over variants called in both, number of such variants)."""
    c = (g >= 0).astype(np.float64)
    x = np.where(g >= 0, g, 0).astype(np.float64)
    n = g.shape[0]
    diff = np.empty((n, n))
    for i in range(n):
        diff[i] = (np.abs(x[i] - x) * (c[i] * c)).sum(axis=1)
    return diff, c @ c.T


def ref_distance(g: np.ndarray, metric: str) -> np.ndarray:
    diff, pairs = ref_counts(g)
    if metric == "allele-ct":
        return diff * g.shape[1] / pairs
    if metric == "1-ibs":
        return diff / (2 * pairs)
    return 1 - diff / (2 * pairs)


def ref_grm(g: np.ndarray) -> np.ndarray:
    """GCTA/PLINK --make-rel: z = (g-2p)/sqrt(2p(1-p)), 0 if missing or monomorphic; / M_ij."""
    c = g >= 0
    x = np.where(c, g, 0).astype(np.float64)
    p = x.sum(0) / (2 * c.sum(0))
    var = 2 * p * (1 - p)
    poly = var > 0
    z = np.where(c & poly, (x - 2 * p) / np.sqrt(np.where(poly, var, 1)), 0.0)
    cf = c.astype(np.float64)
    return z @ z.T / (cf @ cf.T)


def ref_king(g: np.ndarray) -> np.ndarray:
    """KING-robust between-family kinship over variants called in both samples."""
    n = g.shape[0]
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            both = (g[i] >= 0) & (g[j] >= 0)
            a, b = g[i][both], g[j][both]
            ibs0 = np.sum(((a == 0) & (b == 2)) | ((a == 2) & (b == 0)))
            het_a, het_b = np.sum(a == 1), np.sum(b == 1)
            het_ab = np.sum(a == 1) + np.sum(b == 1) - 2 * np.sum((a == 1) & (b == 1))
            k[i, j] = 0.5 - (4 * ibs0 + het_ab) / (4 * min(het_a, het_b))
    return k


REFERENCES = {
    "dot": ref_dot,
    "ibs": lambda g: ref_distance(g, "ibs"),
    "1-ibs": lambda g: ref_distance(g, "1-ibs"),
    "allele-ct": lambda g: ref_distance(g, "allele-ct"),
    "grm": ref_grm,
    "king": ref_king,
}


# --------------------------------------------------------------------------- file writers


def write_plink(g: np.ndarray, prefix: Path, ids: list[str] | None = None) -> dict[str, Path]:
    """A PLINK 1 fileset of ``g`` (A1 = counted allele) written by bed-reader."""
    from bed_reader import to_bed

    ids = ids or [f"s{i}" for i in range(g.shape[0])]
    val = np.where(g >= 0, g, np.nan).astype(np.float32)
    bed = prefix.with_suffix(".bed")
    to_bed(bed, val, properties={"fid": ids, "iid": ids,
                                 "sid": [f"rs{v}" for v in range(g.shape[1])],
                                 "chromosome": ["1"] * g.shape[1],
                                 "bp_position": np.arange(1, g.shape[1] + 1) * 100,
                                 "allele_1": ["G"] * g.shape[1], "allele_2": ["A"] * g.shape[1]},
           num_threads=1)
    return {ext: prefix.with_suffix(f".{ext}") for ext in ("bed", "bim", "fam")}


def zip_fileset(files: dict[str, Path], archive: Path,
                compression: int = zipfile.ZIP_STORED) -> Path:
    """A .zip of the fileset: stored members are read in place, deflated ones extracted."""
    with zipfile.ZipFile(archive, "w", compression=compression) as zf:
        for path in files.values():
            zf.write(path, arcname=f"cohort/{path.name}")
    return archive


def tar_fileset(files: dict[str, Path], archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        for path in files.values():
            tf.add(path, arcname=path.name)
    return archive


def write_vcf(g: np.ndarray, path: Path, ids: list[str] | None = None,
              extra_records: list[str] | None = None) -> Path:
    """A VCF of ``g`` (ALT = counted allele), plus optional raw extra records."""
    ids = ids or [f"s{i}" for i in range(g.shape[0])]
    codes = {-1: "./.", 0: "0/0", 1: "0/1", 2: "1/1"}
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=1>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                        *ids])]
    for v in range(g.shape[1]):
        calls = [codes[int(x)] for x in g[:, v]]
        lines.append("\t".join(["1", str((v + 1) * 100), f"rs{v}", "A", "G", ".", "PASS", ".",
                                "GT", *calls]))
    lines += extra_records or []
    text = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path
