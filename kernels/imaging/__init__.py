"""Image classification kernels: datasets, a Keras CNN, training, inference and saliency maps.

Importing this package is light. TensorFlow/Keras are imported only by :mod:`.model`,
:mod:`.train` and :mod:`.inference`, and only when their functions are called.

Modules
-------
decoding
    ``decode_image`` for PNG/JPEG/DICOM bytes, with decompression-bomb limits.
datasets
    ``load_image_dataset`` for MedMNIST ``.npz``, class-folder zips and DICOM + ``labels.csv`` zips;
    ``load_images_for_prediction`` for batch prediction.
imageset, medmnist, safezip
    The split arrays and stratified splitting; the ``.npz`` layout; bounded in-memory zip reading.
sample_data
    ``build_sample_dataset``: a labelled set cut from images bundled with pydicom/scikit-image.
model
    ``build_model``: the "simple" and "deeper" CNN presets (Keras Functional API).
train, evaluation
    ``train_image_classifier``: the ``train-image-classifier`` job kernel; test-split metrics and
    figures.
inference
    ``load_image_model``, ``predict_images`` (with Grad-CAM) and ``predict_dataset``.

Pixel convention: every image is ``uint8``-ranged (0-255), ``H x W x C`` with C = 1 or 3; models
rescale inside, so callers pass raw pixel arrays.
"""
