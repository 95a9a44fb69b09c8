"""Decode PNG, JPEG and DICOM bytes into ``uint8`` pixel arrays, refusing decompression bombs."""

from __future__ import annotations

import io
import warnings

import numpy as np

from osler.kernels.errors import InputError

MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest image (height x width x frames) decoded; headers are checked before any pixel is read."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def sniff_format(data: bytes) -> str | None:
    """Return ``"png"``, ``"jpeg"``, ``"dicom"`` or None from the leading bytes of a file."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    return None


def decode_image(data: bytes, *, name: str = "image") -> np.ndarray:
    """Decode one PNG, JPEG or DICOM file into a ``uint8`` array.

    Parameters
    ----------
    data : bytes
        The file's bytes. The format is recognised from its signature, not from a file name.
    name : str
        How error messages refer to the image (a file name or ``"images[3]"``).

    Returns
    -------
    numpy.ndarray
        ``H x W`` for grey images, ``H x W x 3`` for colour ones, dtype ``uint8``. 16-bit PNGs and
        DICOM pixel data (after the modality LUT; MONOCHROME1 inverted) are min-max scaled to 0-255
        per image, so training and inference see the same scale.

    Raises
    ------
    InputError
        Unknown format, a header announcing more than ``MAX_IMAGE_PIXELS`` pixels, a multi-frame
        DICOM, or bytes that do not decode.

    Examples
    --------
    >>> decode_image(open("scan.png", "rb").read(), name="scan.png").shape  # doctest: +SKIP
    (28, 28)
    """
    kind = sniff_format(data)
    if kind in ("png", "jpeg"):
        return _decode_pillow(data, name)
    if kind == "dicom":
        return _decode_dicom(data, name)
    raise InputError(f"{name}: not a PNG, JPEG or DICOM file")


def _decode_pillow(data: bytes, name: str) -> np.ndarray:
    from PIL import Image

    try:
        # Pillow's own bomb check warns between MAX_IMAGE_PIXELS and twice that; make it fatal.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size  # read from the header; nothing decoded yet
            if width * height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"{name}: {width}x{height} pixels exceeds the limit of {MAX_IMAGE_PIXELS} "
                    "(possible decompression bomb)"
                )
            if getattr(image, "n_frames", 1) > 1:
                raise InputError(f"{name}: multi-frame images are not supported")
            image.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{name}: refused as a possible decompression bomb ({exc})") from None
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...)
        raise InputError(f"{name}: unreadable image ({type(exc).__name__})") from None
    return _pillow_to_array(image, name)


def _pillow_to_array(image, name: str) -> np.ndarray:
    mode = image.mode
    if mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return scale_to_uint8(np.asarray(image, dtype=np.float64), name)
    if mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    raise InputError(f"{name}: unsupported image mode {mode}")


def _decode_dicom(data: bytes, name: str) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:
        raise InputError(f"{name}: unreadable DICOM ({type(exc).__name__})") from None
    if "PixelData" not in ds:
        raise InputError(f"{name}: DICOM file has no pixel data")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if rows * cols * frames > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{name}: {rows}x{cols}x{frames} pixels exceeds the limit of {MAX_IMAGE_PIXELS}"
        )
    if frames > 1:
        raise InputError(f"{name}: multi-frame DICOM ({frames} frames) is not supported")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # padding/VR notices from pydicom are not errors here
            pixels = ds.pixel_array
            if photometric == "PALETTE COLOR":
                pixels = apply_color_lut(pixels, ds)
            elif photometric.startswith("MONOCHROME"):
                pixels = apply_modality_lut(pixels, ds)
    except Exception as exc:
        raise InputError(
            f"{name}: DICOM pixel data does not decode ({type(exc).__name__})"
        ) from None
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        grey = scale_to_uint8(pixels.astype(np.float64), name)
        return 255 - grey if photometric == "MONOCHROME1" else grey
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        if pixels.dtype == np.uint8:
            return pixels
        return scale_to_uint8(pixels.astype(np.float64), name)
    raise InputError(f"{name}: unsupported DICOM pixel layout {pixels.shape}")


def scale_to_uint8(pixels: np.ndarray, name: str = "image") -> np.ndarray:
    """Min-max scale an array to 0-255 ``uint8``; a constant image becomes all zeros."""
    low, high = float(np.min(pixels)), float(np.max(pixels))
    if not np.isfinite(low) or not np.isfinite(high):
        raise InputError(f"{name}: image contains non-finite pixel values")
    if high <= low:
        return np.zeros(pixels.shape, dtype=np.uint8)
    return np.round((pixels - low) * (255.0 / (high - low))).astype(np.uint8)
