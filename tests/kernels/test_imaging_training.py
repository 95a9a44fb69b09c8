"""train_image_classifier: one tiny 2-epoch run (shared fixture), its artifacts and metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.imaging.datasets import load_image_dataset
from osler.kernels.imaging.train import resolve_class_weights, train_image_classifier
from tests.kernels.imaging_data import (
    TINY_CLASSES,
    TRAIN_EPOCHS,
)


def test_training_succeeds_and_writes_its_artifacts(trained):
    summary, out_dir = trained["summary"], trained["out_dir"]
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "confusion_matrix.png", "curves.png", "history.json", "metrics.json", "model.keras"]
    for png in ("curves.png", "confusion_matrix.png"):
        assert (out_dir / png).read_bytes().startswith(b"\x89PNG")
    model = summary["model"]
    assert model["framework"] == "keras" and model["file"] == "model.keras"
    assert model["input_shape"] == [28, 28, 1]
    assert model["class_names"] == list(TINY_CLASSES)
    assert summary["epochs_run"] == TRAIN_EPOCHS
    history = json.loads((out_dir / "history.json").read_text())
    assert len(history["history"]["loss"]) == len(history["history"]["val_accuracy"]) == 2
    json.dumps(summary)  # the job result must be JSON


def test_progress_is_reported_each_epoch_with_increasing_fraction(trained):
    calls = trained["calls"]
    epoch_calls = [(f, m) for f, m in calls if m.startswith("epoch ") and "batch" not in m]
    assert [m.split()[1] for _, m in epoch_calls] == ["1/2", "2/2"]
    assert all("loss=" in m and "accuracy=" in m for _, m in epoch_calls)
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert epoch_calls[0][0] < epoch_calls[1][0]
    history = json.loads((trained["out_dir"] / "history.json").read_text())["history"]
    assert f"loss={history['loss'][1]:.4f}" in epoch_calls[1][1]


def test_metrics_equal_scikit_learn_on_the_models_own_predictions(
        trained, loaded_model, tiny_npz):
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    test = load_image_dataset(tiny_npz).test
    probabilities = np.asarray(loaded_model(test.images.astype(np.float32), training=False))
    predicted = probabilities.argmax(axis=1)
    metrics = json.loads((trained["out_dir"] / "metrics.json").read_text())
    assert metrics["n_test"] == len(test) == 12
    assert metrics["accuracy"] == pytest.approx(accuracy_score(test.labels, predicted))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(test.labels, predicted, average="macro", zero_division=0))
    precision, recall, _, support = precision_recall_fscore_support(
        test.labels, predicted, labels=[0, 1, 2], zero_division=0)
    for k, name in enumerate(TINY_CLASSES):
        assert metrics["per_class"][name]["precision"] == pytest.approx(precision[k])
        assert metrics["per_class"][name]["recall"] == pytest.approx(recall[k])
        assert metrics["per_class"][name]["support"] == support[k]
    assert metrics["roc_auc_ovr"] == pytest.approx(
        roc_auc_score(test.labels, probabilities, multi_class="ovr", average="macro"), abs=1e-6)
    assert metrics["confusion_matrix"] == confusion_matrix(test.labels, predicted).tolist()
    assert trained["summary"]["test_accuracy"] == metrics["accuracy"]


class Cancelled(Exception):
    pass


def test_an_exception_from_progress_stops_training_and_propagates(tiny_npz, tmp_path):
    def progress(fraction: float, message: str) -> None:
        if message.startswith("epoch 1/"):
            raise Cancelled

    with pytest.raises(Cancelled):
        train_image_classifier(tiny_npz, tmp_path, epochs=50, progress=progress)
    assert not (tmp_path / "model.keras").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"architecture": "resnet"}, "architecture must be one of simple, deeper"),
        ({"epochs": 0}, "epochs must be"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"class_weights": {"MRI": 2.0}}, "class_weights: unknown class 'MRI'"),
    ],
)
def test_bad_parameters_raise_input_error(tiny_npz, tmp_path, params, message):
    with pytest.raises(InputError, match=message):
        train_image_classifier(tiny_npz, tmp_path, **params)


def test_class_weights_balanced_match_scikit_learn_and_named_weights_map_to_indices():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0, 0, 0, 0, 1, 2, 2])
    expected = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=labels)
    weights = resolve_class_weights("balanced", labels, ("a", "b", "c"))
    assert [weights[k] for k in range(3)] == pytest.approx(expected.tolist())
    assert resolve_class_weights({"b": 3, "2": 0.5}, labels, ("a", "b", "c")) == {
        0: 1.0, 1: 3.0, 2: 0.5}
    with pytest.raises(InputError, match="weight of 'a' must be a positive number"):
        resolve_class_weights({"a": 0}, labels, ("a", "b", "c"))


def test_deeper_preset_with_augmentation_builds_and_rescales_inside():
    from osler.kernels.imaging.model import build_model

    model = build_model((32, 32, 3), 4, architecture="deeper", augment=True, seed=1)
    names = [layer.name for layer in model.layers]
    assert names[1] == "rescale" and "augment_flip" in names
    assert {"bn1", "bn2", "bn3", "dropout3", "features", "logits"} <= set(names)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    out = np.asarray(model(x, training=False))
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    # augmentation is inactive at inference: the same input gives the same output
    np.testing.assert_array_equal(out, np.asarray(model(x, training=False)))
