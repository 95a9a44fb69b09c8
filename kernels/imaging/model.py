"""The CNN presets, built with the Keras Functional API (Grad-CAM needs named inner layers)."""

from __future__ import annotations

from osler.kernels.errors import InputError

ARCHITECTURES = ("simple", "deeper")
"""Presets: "simple" is the seed model (Conv2D -> MaxPooling -> Flatten -> Dense softmax);
"deeper" has three Conv-BatchNorm-ReLU-MaxPool blocks, dropout and a hidden Dense layer."""

FEATURES_LAYER = "features"
"""Name of the last convolutional activation; Grad-CAM differentiates with respect to it."""
LOGITS_LAYER = "logits"
"""Name of the pre-softmax Dense layer; Grad-CAM differentiates the class score taken here."""
PROBABILITIES_LAYER = "probabilities"


def import_keras():
    """Import Keras (TensorFlow backend) with TensorFlow's C++ info/warning logs silenced.

    The environment default only takes effect before TensorFlow's first import, so every kernel
    module imports Keras through here; an explicit ``TF_CPP_MIN_LOG_LEVEL`` is left alone.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def build_model(input_shape: tuple[int, int, int], n_classes: int, *,
                architecture: str = "simple", augment: bool = False, seed: int = 0):
    """Build an uncompiled image classifier.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, channels)`` of the raw 0-255 images.
    n_classes : int
        Number of classes (at least 2); the output is a softmax over them.
    architecture : {"simple", "deeper"}
        The preset (see :data:`ARCHITECTURES`).
    augment : bool
        Add random flips, small rotations and zooms, active only while training.
    seed : int
        Seed of the augmentation layers.

    Returns
    -------
    keras.Model
        Input raw pixels, output class probabilities. A ``Rescaling(1/255)`` layer normalises inside
        the model, so callers never scale pixels themselves.
    """
    keras = import_keras()
    layers = keras.layers

    if architecture not in ARCHITECTURES:
        raise InputError(f"architecture must be one of {', '.join(ARCHITECTURES)}, "
                         f"got {architecture!r}")
    if n_classes < 2:
        raise InputError("at least two classes are needed")
    inputs = keras.Input(shape=tuple(input_shape), name="pixels")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augment:
        x = layers.RandomFlip("horizontal_and_vertical", seed=seed, name="augment_flip")(x)
        x = layers.RandomRotation(0.05, seed=seed + 1, name="augment_rotate")(x)
        x = layers.RandomZoom(0.1, seed=seed + 2, name="augment_zoom")(x)
    if architecture == "simple":
        x = layers.Conv2D(32, 3, activation="relu", name=FEATURES_LAYER)(x)
        x = layers.MaxPooling2D(2, name="pool")(x)
        x = layers.Flatten(name="flatten")(x)
    else:
        for block, filters in enumerate((32, 64, 128), start=1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{block}")(x)
            # momentum 0.9: moving statistics settle within a few epochs of a small dataset
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{block}")(x)
            last = block == 3
            x = layers.Activation("relu", name=FEATURES_LAYER if last else f"relu{block}")(x)
            x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
            x = layers.Dropout(0.25, seed=seed + block, name=f"dropout{block}")(x)
        x = layers.GlobalAveragePooling2D(name="gap")(x)
        x = layers.Dense(128, activation="relu", name="hidden")(x)
        x = layers.Dropout(0.5, seed=seed + 10, name="dropout_hidden")(x)
    logits = layers.Dense(n_classes, name=LOGITS_LAYER)(x)
    outputs = layers.Activation("softmax", dtype="float32", name=PROBABILITIES_LAYER)(logits)
    return keras.Model(inputs, outputs, name=f"osler_cnn_{architecture}")
