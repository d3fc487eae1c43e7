"""Arguments of `{type: ...}` objects and nested layers are checked at check time, like the rest.

`kspec check` never imports Keras, so the arguments of Keras's initializers, regularizers,
constraints, optimizers, schedules, losses, metrics and callbacks come from a table generated
from the installed Keras (`kspec.schema.keras_args`); `test_the_table_matches_the_installed_keras`
regenerates it and fails when Keras changes.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

import kspec
from conftest import ROOT
from kspec.cli import main
from kspec.schema.keras_args import ARGUMENTS, VALUE_KINDS

X4 = "inputs: [{name: x, shape: [4]}]\n"


def test_the_table_matches_the_installed_keras(keras):
    spec = importlib.util.spec_from_file_location("gen_keras_args", ROOT / "scripts" / "gen_keras_args.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.table() == ARGUMENTS, (
        "run: .venv/bin/python scripts/gen_keras_args.py > src/kspec/schema/keras_args.py"
    )
    assert module.value_kinds() == VALUE_KINDS


#: (spec's object, where, words, the Keras call that shows why): a string where Keras's default
#: is a float fails in Keras, at the latest when training starts; a non-bool where its default is
#: a bool is silently read as true or false ("no" is true).
VALUE_CASES = [
    (
        "layers: [{type: Dense, units: 3, kernel_regularizer: {type: L2, l2: abc}}]\n",
        "layers[0].kernel_regularizer.l2",
        "regularizer L2 argument 'l2' must be a number, got 'abc'",
        lambda k: k.regularizers.L2(l2="abc"),
    ),
    (
        "layers: [{type: Dense, units: 2}]\ncompile: {loss: mse, optimizer: {type: Adam, beta_1: '0.9'}}\n",
        "compile.optimizer.beta_1",
        "optimizer Adam argument 'beta_1' must be a number",
        lambda k: _fit(k, optimizer=k.optimizers.Adam(beta_1="0.9")),
    ),
    (
        "layers: [{type: Dense, units: 2}]\ncompile: {loss: {type: Huber, delta: '1'}}\n",
        "compile.loss.delta",
        "loss Huber argument 'delta' must be a number",
        lambda k: _fit(k, loss=k.losses.Huber(delta="1")),
    ),
    (
        "layers: [{type: Dense, units: 3}]\ncompile: {loss: sparse_categorical_crossentropy}\n"
        "train: {data: {type: sklearn, name: iris}, callbacks: [{type: ReduceLROnPlateau, factor: '0.5'}]}\n",
        "train.callbacks[0].factor",
        "callback ReduceLROnPlateau argument 'factor' must be a number",
        lambda k: _fit(k, callbacks=[k.callbacks.ReduceLROnPlateau(factor="0.5")]),
    ),
]


def _fit(keras, optimizer="sgd", loss="mse", callbacks=None):
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(
        np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), epochs=1, verbose=0, callbacks=callbacks
    )


@pytest.mark.parametrize("text,where,words,in_keras", VALUE_CASES)
def test_value_kinds_from_keras_defaults_are_checked_at_check_time(keras, text, where, words, in_keras):
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(X4 + text, file="t.yaml"))
    first = str(info.value).splitlines()[0]
    assert first.startswith("t.yaml:") and f": {where}: " in first and words in first, first
    with pytest.raises((TypeError, ValueError)):
        in_keras(keras)  # Keras fails on it too, only later


def test_a_bool_argument_takes_true_or_false(keras):
    """Keras reads `from_logits: "no"` as true (any non-empty string); check refuses it."""
    assert keras.losses.BinaryCrossentropy(from_logits="no").get_config()["from_logits"] == "no"
    text = (
        X4
        + "layers: [{type: Dense, units: 1}]\ncompile: {loss: {type: BinaryCrossentropy, from_logits: 'no'}}\n"
    )
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(text, file="t.yaml"))
    assert (
        "compile.loss.from_logits: loss BinaryCrossentropy argument 'from_logits' must be true or false"
        in str(info.value)
    )


@pytest.mark.parametrize(
    "text,where,words",
    [
        (
            X4 + "layers: [{type: Dense, units: 3, kernel_regularizer: {type: L2, l: 0.1}}]\n",
            "layers[0].kernel_regularizer.l",
            "regularizer L2 has no argument 'l'; did you mean 'l2'?",
        ),
        (
            X4 + "layers: [{type: Dense, units: 3, kernel_initializer: {type: RandomNormal, stdev: 1}}]\n",
            "layers[0].kernel_initializer.stdev",
            "did you mean 'stddev'?",
        ),
        (
            X4 + "layers: [{type: Dense, units: 3, kernel_constraint: {type: MaxNorm, maxvalue: 2}}]\n",
            "layers[0].kernel_constraint.maxvalue",
            "did you mean 'max_value'?",
        ),
        (  # a layer outside the registry: its initializer is checked all the same
            X4
            + "layers: [{type: Rescaling, scale: 2}, {type: Dense, units: 2, bias_regularizer: {type: L1, l1: 1, l2: 2}}]\n",
            "layers[1].bias_regularizer.l2",
            "has no argument 'l2'",
        ),
        (
            X4
            + "layers: [{type: Dense, units: 2}]\ncompile: {optimizer: {type: Adam, learnig_rate: 0.1}, loss: mse}\n",
            "compile.optimizer.learnig_rate",
            "did you mean 'learning_rate'?",
        ),
        (
            X4 + "layers: [{type: Dense, units: 2}]\ncompile:\n  loss: mse\n  optimizer:\n    type: SGD\n"
            "    learning_rate: {type: ExponentialDecay, initial_learning_rate: 0.1, decay_rate: 0.5}\n",
            "compile.optimizer.learning_rate",
            "ExponentialDecay needs the argument 'decay_steps'",
        ),
        (
            X4
            + "layers: [{type: Dense, units: 2}]\ncompile: {loss: {type: SparseCategoricalCrossentropy, from_logit: true}}\n",
            "compile.loss.from_logit",
            "did you mean 'from_logits'?",
        ),
        (
            X4 + "layers: [{type: Dense, units: 2}]\ncompile: {loss: mse, metrics: [{type: MeanIoU}]}\n",
            "compile.metrics[0]",
            "metric MeanIoU needs the argument 'num_classes'",
        ),
        (
            X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: sparse_categorical_crossentropy}\n"
            "train: {data: {type: sklearn, name: iris}, callbacks: [{type: EarlyStopping, patiense: 3}]}\n",
            "train.callbacks[0].patiense",
            "did you mean 'patience'?",
        ),
        (
            X4 + "layers: [{type: Dense, units: 2}]\ncompile: {loss: {type: mse, delta: 1}}\n",
            "compile.loss.delta",
            "loss 'mse' takes no arguments",
        ),
    ],
)
def test_arguments_of_typed_objects_are_checked_at_check_time(text, where, words):
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(text, file="t.yaml"))
    first = str(info.value).splitlines()[0]
    assert f": {where}: " in first and words in first, first


def test_good_arguments_pass(tmp_path):
    spec = kspec.loads(
        X4 + "layers:\n  - {type: Dense, units: 3, kernel_regularizer: {type: L1L2, l1: 0.1, l2: 0.01},\n"
        "     kernel_initializer: {type: VarianceScaling, scale: 2.0, mode: fan_in, seed: 1}}\n"
        "compile:\n  optimizer: {type: Adam, learning_rate: {type: CosineDecay, initial_learning_rate: 0.1,"
        " decay_steps: 10}}\n  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n"
        "  metrics: [accuracy, {type: MeanIoU, num_classes: 3}]\n"
        "train: {data: {type: sklearn, name: iris}, callbacks: [{type: BackupAndRestore, save_freq: epoch}]}\n"
    )
    assert kspec.check(spec).total_params == 15


NESTED = [
    # (a layer argument holding an unsafe layer, at some depth, through a wrapper in or outside the registry)
    "{type: SpectralNormalization, layer: »{type: TFSMLayer, filepath: saved}}",
    "{type: TimeDistributed, layer: {type: SpectralNormalization, layer: »{type: Lambda, function: 'lambda x: x'}}}",
    "{type: Bidirectional, layer: {type: LSTM, units: 2}, backward_layer: »{type: JaxLayer, call_fn: f}}",
    "{type: SpectralNormalization, layer: {type: SpectralNormalization, layer: »{type: TorchModuleWrapper, module: m}}}",
]


@pytest.mark.parametrize("layer", NESTED)
@pytest.mark.parametrize("command", ["check", "plot", "build"])
def test_an_unsafe_layer_nested_in_another_is_refused(layer, command, tmp_path, capsys):
    """Issue 19.1: validated like a top-level layer, by every command, before Keras loads it."""
    text = "inputs: [{name: x, shape: [4, 3]}]\nlayers:\n  - " + layer + "\n"
    spec = tmp_path / "m.yaml"
    spec.write_text(text.replace("»", ""))
    before = text[: text.index("»")]
    line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
    argv = [command, str(spec)] + (["-o", str(tmp_path / "m.dot")] if command == "plot" else [])
    keras_before = "keras" in sys.modules
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {spec}:{line}:")
    assert "layers run code that is not in the spec and are refused" in err[0]
    assert not (tmp_path / "m.dot").exists()
    if not keras_before:
        assert "keras" not in sys.modules  # refused before Keras could read anything
    del col


def test_a_nested_layer_is_validated_like_a_top_level_one():
    text = X4 + "layers:\n  - {type: SpectralNormalization, layer: {type: Dense, unit: 3}}\n"
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(text, file="t.yaml"))
    assert [e.one_line() for e in info.value.errors] == [
        "t.yaml:3:62: layers[0].layer.unit: Dense has no argument 'unit'; did you mean 'units'?"
    ]


def test_allow_unsafe_lets_a_nested_unsafe_layer_through():
    """allow_unsafe lifts the refusal of code; the wrapper's own rule still has its say
    (SpectralNormalization, now in the registry, wraps only layers with a kernel)."""
    text = "inputs: [{name: x, shape: [4, 3]}]\nlayers:\n  - " + NESTED[0].replace("»", "") + "\n"
    with pytest.raises(kspec.SpecError, match="run code"):
        kspec.loads(text)
    try:
        kspec.check(kspec.loads(text, allow_unsafe=True))
        message = ""
    except kspec.SpecError as exc:
        message = str(exc)
    assert "run code" not in message
