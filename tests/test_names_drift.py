"""The checker's name lists must match what the installed Keras offers (catches Keras upgrades)."""

from __future__ import annotations

import inspect

import pytest

from kspec.schema import names


def _classes(module, base) -> set[str]:
    return {
        n
        for n in dir(module)
        if not n.startswith("_")
        and inspect.isclass(getattr(module, n))
        and issubclass(getattr(module, n), base)
    }


def _lower(module) -> set[str]:
    return {
        n
        for n in dir(module)
        if n.islower()
        and not n.startswith("_")
        and callable(getattr(module, n))
        and n not in ("get", "serialize", "deserialize")
    }


def test_activations(keras):
    assert names.ACTIVATIONS == _lower(keras.activations)


def test_initializers(keras):
    base = keras.initializers.Initializer
    assert names.INITIALIZERS == (_classes(keras.initializers, base) - {"Initializer"}) | _lower(
        keras.initializers
    )


def test_regularizers_and_constraints(keras):
    assert names.REGULARIZERS == (
        _classes(keras.regularizers, keras.regularizers.Regularizer) - {"Regularizer"}
    ) | _lower(keras.regularizers)
    assert names.CONSTRAINTS == (
        _classes(keras.constraints, keras.constraints.Constraint) - {"Constraint"}
    ) | _lower(keras.constraints)


def test_optimizers(keras):
    offered = _classes(keras.optimizers, keras.optimizers.Optimizer) - {
        "Optimizer",
        "LossScaleOptimizer",
        "MultiOptimizer",  # wrappers need another optimizer object
        "Lamb",
    }  # exported, but keras.optimizers.get cannot resolve it (so compile cannot either)
    assert {n for n in names.OPTIMIZERS if not n.islower()} == offered
    for name in names.OPTIMIZERS:
        assert keras.optimizers.get(name) is not None


def test_schedules(keras):
    sched = keras.optimizers.schedules
    assert names.LEARNING_RATE_SCHEDULES == _classes(sched, sched.LearningRateSchedule) - {
        "LearningRateSchedule"
    }


@pytest.mark.parametrize("kind", ["LOSSES", "METRICS"])
def test_losses_and_metrics_resolve(keras, kind):
    module, base = (
        (keras.losses, keras.losses.Loss) if kind == "LOSSES" else (keras.metrics, keras.metrics.Metric)
    )
    listed = getattr(names, kind)
    classes = _classes(module, base) - {"Loss", "Metric", "MeanMetricWrapper"}
    for name in listed:
        if name in ("accuracy", "acc"):  # compile() resolves these from the loss
            continue
        if name[0].isupper():
            assert name in classes, name  # a class; some need arguments, given as {type: ..., ...}
        else:
            assert module.get(name) is not None, name  # a name compile() resolves
    # everything Keras resolves by plain name is listed
    for name in _lower(module):
        try:
            module.get(name)
        except ValueError:
            continue
        assert name in listed, name


def test_callbacks(keras):
    offered = _classes(keras.callbacks, keras.callbacks.Callback) - {
        "Callback",
        "CallbackList",
        "History",
        "ProgbarLogger",
        "OrbaxCheckpoint",
    }
    assert names.CALLBACKS | names.UNSAFE_CALLBACKS == offered


def test_layers(keras):
    offered = _classes(keras.layers, keras.layers.Layer) - {
        "Layer",
        "InputLayer",
        "Wrapper",
        "GRUCell",
        "LSTMCell",
        "SimpleRNNCell",
    }
    assert names.KERAS_LAYERS == offered
