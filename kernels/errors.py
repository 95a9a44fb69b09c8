"""Errors raised by kernels. The workers map them onto the service's error tree."""


class KernelError(Exception):
    """Root of every error a kernel raises on purpose."""


class InputError(KernelError):
    """The input file or parameters are unusable; the message names the file, line or record."""
