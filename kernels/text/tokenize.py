"""Explicit, documented tokenisation, saved with every text model and reloaded identically.

The rules, applied in this order by :meth:`Tokenizer.tokenize`:

1. Unicode NFKC normalisation (full-width digits, ligatures and the like become plain characters).
2. Lower-casing when ``lowercase`` is true (the default for words; codes keep their case).
3. Splitting, depending on ``level``:

   ``"word"``
       A *word* is a maximal run of letters and digits (``[^\\W_]+``, Unicode-aware). A decimal
       number such as ``2.5`` or ``1,000`` is one token. Everything else (spaces, punctuation,
       underscores) separates words. With ``punctuation="split"`` each other non-space character
       becomes a token of its own; with ``"drop"`` (the default) it is discarded.
       With ``numbers="mask"`` every token made only of digits (and decimal separators) becomes
       ``<num>``; with ``"keep"`` (the default) numbers stay as they are. Mixed tokens such as
       ``c5`` or ``t2dm`` are always kept.
   ``"char"``
       Every character, spaces included, is a token (used for ICD codes such as ``S72.001A``).
       ``punctuation`` and ``numbers`` do not apply.

A :class:`Vocabulary` maps tokens to ids with four reserved ids: 0 padding, 1 out-of-vocabulary,
2 start, 3 end. Sequences are padded and truncated at the end (post), and id 0 is what
``Embedding(mask_zero=True)`` masks.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from osler.kernels.errors import InputError

PAD = "<pad>"
"""Padding token; always id 0 (masked by ``Embedding(mask_zero=True)``)."""
OOV = "<unk>"
"""Out-of-vocabulary token; always id 1."""
START = "<s>"
"""Start-of-sequence token fed to a decoder first; always id 2."""
END = "</s>"
"""End-of-sequence token a decoder emits last; always id 3."""
NUM = "<num>"
"""What numbers become with ``numbers="mask"``."""
RESERVED = (PAD, OOV, START, END)
"""Reserved tokens, in id order."""

FORMAT_VERSION = 1
"""Version of the tokenizer JSON layout."""

_NUMBER = r"\d+(?:[.,]\d+)+"
_WORD = r"[^\W_]+"
_WORD_RE = re.compile(rf"{_NUMBER}|{_WORD}")
_WORD_OR_PUNCT_RE = re.compile(rf"{_NUMBER}|{_WORD}|[^\w\s]|_")
_NUMERIC_RE = re.compile(r"^\d+(?:[.,]\d+)*$")


@dataclass(frozen=True)
class TokenizerConfig:
    """How text becomes tokens; see the module docstring for the exact rules."""

    level: Literal["word", "char"] = "word"
    lowercase: bool = True
    punctuation: Literal["drop", "split"] = "drop"
    numbers: Literal["keep", "mask"] = "keep"

    def __post_init__(self) -> None:
        choices = {
            "level": ("word", "char"),
            "punctuation": ("drop", "split"),
            "numbers": ("keep", "mask"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"tokenizer {name} must be one of {allowed}, "
                                 f"got {getattr(self, name)!r}")
        if not isinstance(self.lowercase, bool):
            raise InputError("tokenizer lowercase must be true or false")


@dataclass(frozen=True)
class Vocabulary:
    """Token ↔ id mapping; ids 0–3 are :data:`RESERVED`, the rest by decreasing count."""

    tokens: tuple[str, ...]
    counts: tuple[int, ...] = field(default=())
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(RESERVED)]) != RESERVED:
            raise InputError(f"vocabulary must start with the reserved tokens {RESERVED}")
        index = {token: i for i, token in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise InputError("vocabulary has duplicate tokens")
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 1,
              max_size: int | None = None) -> Vocabulary:
        """Count tokens and keep those seen ``min_count`` times, most frequent first.

        Ties are broken alphabetically so the same corpus always gives the same ids.
        ``max_size`` counts the reserved tokens.
        """
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        for token in RESERVED:
            counter.pop(token, None)
        kept = sorted((t for t, n in counter.items() if n >= min_count),
                      key=lambda t: (-counter[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(RESERVED))]
        return cls(tokens=RESERVED + tuple(kept),
                   counts=(0,) * len(RESERVED) + tuple(counter[t] for t in kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def id(self, token: str) -> int:
        """The id of ``token``, or the OOV id."""
        return self._index.get(token, 1)

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens`` (unknown ones map to the OOV id)."""
        return [self._index.get(t, 1) for t in tokens]


class Tokenizer:
    """A :class:`TokenizerConfig` plus an optional :class:`Vocabulary`, saved as one JSON file.

    Examples
    --------
    >>> tok = Tokenizer(TokenizerConfig())
    >>> tok.tokenize("Type 2 diabetes, with HbA1c 7.5%")
    ['type', '2', 'diabetes', 'with', 'hba1c', '7.5']
    """

    def __init__(self, config: TokenizerConfig, vocabulary: Vocabulary | None = None) -> None:
        self.config = config
        self.vocabulary = vocabulary

    # -- text -> tokens ---------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Split one text into tokens following the module's rules."""
        text = unicodedata.normalize("NFKC", text)
        if self.config.lowercase:
            text = text.lower()
        if self.config.level == "char":
            return list(text)
        pattern = _WORD_OR_PUNCT_RE if self.config.punctuation == "split" else _WORD_RE
        tokens = pattern.findall(text)
        if self.config.numbers == "mask":
            tokens = [NUM if _NUMERIC_RE.match(t) else t for t in tokens]
        return tokens

    def join(self, tokens: Sequence[str]) -> str:
        """Tokens back to text: concatenated for characters, space-separated for words."""
        return ("" if self.config.level == "char" else " ").join(tokens)

    def with_vocabulary(self, texts: Iterable[str], *, min_count: int = 1,
                        max_size: int | None = None) -> Tokenizer:
        """A copy of this tokenizer with a vocabulary built from ``texts``."""
        vocab = Vocabulary.build((self.tokenize(t) for t in texts), min_count=min_count,
                                 max_size=max_size)
        return Tokenizer(self.config, vocab)

    # -- tokens <-> ids -----------------------------------------------------------------------
    def _vocab(self) -> Vocabulary:
        if self.vocabulary is None:
            raise InputError("this tokenizer has no vocabulary")
        return self.vocabulary

    def encode(self, text: str, *, add_start: bool = False, add_end: bool = False) -> list[int]:
        """Ids of one text, optionally framed by the start and end ids."""
        vocab = self._vocab()
        ids = vocab.ids(self.tokenize(text))
        return ([2] if add_start else []) + ids + ([3] if add_end else [])

    def encode_batch(self, texts: Sequence[str], max_length: int) -> np.ndarray:
        """``(len(texts), max_length)`` int32 ids, padded with 0 and truncated at the end."""
        out = np.zeros((len(texts), max_length), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = self.encode(text)[:max_length]
            out[row, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, stopping at the end id and skipping padding and the start id."""
        vocab = self._vocab()
        tokens: list[str] = []
        for i in ids:
            i = int(i)
            if i == 3:
                break
            if i in (0, 2):
                continue
            tokens.append(vocab.tokens[i])
        return self.join(tokens)

    # -- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON-serialisable form written by :meth:`save`."""
        return {
            "format_version": FORMAT_VERSION,
            "config": asdict(self.config),
            "vocabulary": None if self.vocabulary is None else {
                "tokens": list(self.vocabulary.tokens),
                "counts": list(self.vocabulary.counts),
            },
        }

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        """Inverse of :meth:`to_dict`."""
        if data.get("format_version") != FORMAT_VERSION:
            raise InputError(f"unsupported tokenizer format_version {data.get('format_version')!r}")
        config = TokenizerConfig(**data["config"])
        vocab = data.get("vocabulary")
        vocabulary = None if vocab is None else Vocabulary(
            tokens=tuple(vocab["tokens"]), counts=tuple(vocab.get("counts", ())))
        return cls(config, vocabulary)

    def save(self, path: Path) -> None:
        """Write the tokenizer as UTF-8 JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{Path(path).name}: cannot read tokenizer ({exc})") from exc
        return cls.from_dict(data)
