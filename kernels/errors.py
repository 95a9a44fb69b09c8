"""Errors raised by kernels. The workers map them onto the service's error tree."""


class KernelError(Exception):
    """Root of every error a kernel raises on purpose."""


class InputError(KernelError):
    """The input file or parameters are unusable; the message names the file, line or record."""


class UnknownWordError(InputError):
    """A queried word is not in a word-embedding model's vocabulary (the API answers 404)."""

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        shown = ", ".join(repr(w) for w in self.words[:10])
        more = f" and {len(self.words) - 10} more" if len(self.words) > 10 else ""
        noun = "word" if len(self.words) == 1 else "words"
        super().__init__(f"unknown {noun} {shown}{more}: not in the model's vocabulary")
