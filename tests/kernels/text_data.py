"""Small synthetic text datasets whose answers are known by construction (imported explicitly)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np

GROUPS = [[f"g{g}w{k}" for k in range(4)] for g in range(8)]
"""Eight groups of four words; a sentence only ever mixes words of one group."""

CARDIO = ["heart", "cardiac", "myocardial", "infarction", "angina"]
ORTHO = ["fracture", "femur", "tibia", "bone", "cast"]
FILLER = ["left", "right", "acute", "chronic", "of", "the", "with", "unspecified"]

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_group_corpus(path: Path, sentences: int = 400, seed: int = 0) -> list[list[str]]:
    """Sentences that each shuffle one group's words; returns the token lists written."""
    rng = random.Random(seed)
    lines = []
    for i in range(sentences):
        words = GROUPS[i % len(GROUPS)][:]
        rng.shuffle(words)
        lines.append(words)
    # Capitals, punctuation and blank lines exercise the tokenizer and the reader.
    text = "\n".join(" ".join(w).upper() + "." if i % 5 == 0 else " ".join(w)
                     for i, w in enumerate(lines))
    path.write_text(text + "\n\n", encoding="utf-8")
    return lines


def write_clinical_csv(path: Path, rows: int = 240, seed: int = 0) -> None:
    """Two separable classes (cardio/ortho) with filler words and a fixed 80/10/10 split column."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label", "split"])
        for i in range(rows):
            label, vocab = ("cardio", CARDIO) if i % 2 == 0 else ("ortho", ORTHO)
            words = rng.sample(vocab, 2) + rng.sample(FILLER, 3)
            rng.shuffle(words)
            block = (i // 2) % 10  # both classes in every split
            split = "train" if block < 8 else ("val" if block == 8 else "test")
            writer.writerow([i, (" ".join(words) + ", NOS.").capitalize(), label, split])


def write_signals(path: Path, samples: int = 80, steps: int = 16, seed: int = 0) -> None:
    """Slow (class 0) versus fast (class 1) sine waves on two features."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, steps)
    y = np.arange(samples) % 2
    phase = rng.uniform(0, 2 * np.pi, samples)
    x = np.sin(2 * np.pi * (1 + 3 * y)[:, None] * t[None, :] + phase[:, None])
    x = np.stack([x, 0.5 * x + 3.0], axis=-1).astype(np.float32)
    np.savez(path, x=x, y=y)


def write_digit_pairs(path: Path, pairs: int = 300, seed: int = 0) -> None:
    """``"Two Seven"`` → ``"C27"``: digit words to a code, with a split field."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(pairs):
            digits = [rng.randint(0, 9) for _ in range(rng.randint(2, 3))]
            split = "train" if i % 10 < 8 else ("val" if i % 10 == 8 else "test")
            handle.write(json.dumps({
                "source": " ".join(DIGITS[d] for d in digits).title(),
                "target": "C" + "".join(map(str, digits)), "split": split}) + "\n")
