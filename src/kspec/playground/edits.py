"""The Playground's controls as edits of the spec text: every button writes into the spec.

Each edit parses the text with kspec's own safe, bounded loader, changes the tree and writes it
back (YAML stays YAML, JSON stays JSON). Comments do not survive an edit; the YAML editor is the
place for everything the buttons do not cover.

>>> text = apply_edit(DEFAULT_SPEC, {"op": "neurons", "layer": 0, "delta": 1})
>>> "units: 5" in text
True
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from kspec.errors import SpecError
from kspec.schema.loader import parse
from kspec.schema.model import FEATURE_NAMES

#: Playground's start: circles, two inputs, 4 and 2 tanh neurons, learning rate 0.03.
DEFAULT_SPEC = """\
# TensorFlow Playground's starting point, as a kspec spec. Edit it, or use the controls.
name: playground
seed: 1
inputs: [{name: x, shape: [2]}]
layers:
- {type: Dense, units: 4, activation: tanh}
- {type: Dense, units: 2, activation: tanh}
- {type: Dense, name: output, units: 1, activation: sigmoid}
compile:
  optimizer: {type: Adam, learning_rate: 0.03}
  loss: binary_crossentropy
  metrics: [accuracy]
train:
  data: {type: synthetic, name: circles, samples: 500, noise: 0.0, seed: 0, features: [x1, x2]}
  test_split: 0.5
  batch_size: 10
  epochs: 100
"""

CLASSIFICATION_SETS = ("circles", "xor", "gaussian", "spiral", "moons")
REGRESSION_SETS = ("plane", "multi_gaussian")
# scikit-learn's bundled sets: (features, classes).
SKLEARN_SETS = {"iris": (4, 3), "digits": (64, 10), "wine": (13, 3), "breast_cancer": (30, 2)}
ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "elu", "gelu", "swish", "softplus")
MAX_UNITS = 256  # the + button stops here; the editor can go further within the parameter limit
MAX_HIDDEN = 16
_OPTIMIZER_CLASSES = {
    "adam": "Adam",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adamw": "AdamW",
    "adagrad": "Adagrad",
}


def _load(text: str) -> tuple[dict[str, Any], bool]:
    doc = parse(text, file="spec")
    if not isinstance(doc.data, dict):
        raise SpecError("the spec must be a mapping", file="spec", line=1, col=1)
    return doc.data, text.lstrip().startswith("{")


def dump(data: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(data, indent=2) + "\n"
    # Leaf collections in flow style: one line per layer, as people write specs by hand.
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True)


def _dense(data: dict[str, Any]) -> list[dict[str, Any]]:
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise SpecError("the spec has no `layers:` list", file="spec")
    return [la for la in layers if isinstance(la, dict) and la.get("type") == "Dense"]


def _hidden(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Dense layers other than the last one (the output)."""
    return _dense(data)[:-1]


def _output(data: dict[str, Any]) -> dict[str, Any]:
    dense = _dense(data)
    if not dense:
        raise SpecError("the controls edit Dense layers; this spec has none (use the editor)", file="spec")
    return dense[-1]


def _train_data(data: dict[str, Any]) -> dict[str, Any]:
    train = data.setdefault("train", {})
    if not isinstance(train, dict):
        raise SpecError("`train:` must be a mapping", file="spec")
    if not isinstance(train.get("data"), dict):
        train["data"] = {"type": "synthetic", "name": "circles"}
    return train["data"]


def _set_input_width(data: dict[str, Any], width: int) -> None:
    inputs = data.get("inputs")
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        inputs[0]["shape"] = [width]


def _set_head(data: dict[str, Any], problem: str, classes: int = 2) -> None:
    out = _output(data)
    compile_cfg = data.setdefault("compile", {})
    if problem == "regression":
        out.update(units=1, activation="linear")
        compile_cfg.update(loss="mse", metrics=["mae"])
    elif classes > 2:
        out.update(units=classes, activation="softmax")
        compile_cfg.update(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        out.update(units=1, activation="sigmoid")
        compile_cfg.update(loss="binary_crossentropy", metrics=["accuracy"])


def _dataset(data: dict[str, Any], edit: dict[str, Any]) -> None:
    if isinstance(edit.get("data"), dict):  # the spec's own train.data, restored as it was
        _train_data(data)
        data["train"]["data"] = edit["data"]
        return
    name = edit.get("name")
    old = _train_data(data)
    if name in SKLEARN_SETS:
        width, classes = SKLEARN_SETS[name]
        data["train"]["data"] = {"type": "sklearn", "name": name}
        _set_input_width(data, width)
        _set_head(data, "classification", classes)
        return
    if name not in CLASSIFICATION_SETS + REGRESSION_SETS:
        raise SpecError(f"unknown dataset {name!r}", file="spec")
    features = old.get("features") if old.get("type") == "synthetic" else None
    new = {"type": "synthetic", "name": name}
    for key in ("samples", "noise", "seed"):
        if old.get("type") == "synthetic" and key in old:
            new[key] = old[key]
    new.setdefault("samples", 500)
    new.setdefault("noise", 0.0)
    new["features"] = features or ["x1", "x2"]
    data["train"]["data"] = new
    _set_input_width(data, len(new["features"]))
    _set_head(data, "regression" if name in REGRESSION_SETS else "classification")


def _number(edit: dict[str, Any], key: str, lo: float, hi: float) -> float:
    value = edit.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise SpecError(f"{key} must be a number from {lo} to {hi}, got {value!r}", file="spec")
    return value


def apply_edit(text: str, edit: dict[str, Any]) -> str:
    """The spec text with one control's change applied (`edit["op"]` names the control)."""
    data, as_json = _load(text)
    op = edit.get("op")
    if op == "dataset":
        _dataset(data, edit)
    elif op == "features":
        names = edit.get("value")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise SpecError("features must be a non-empty list of feature names", file="spec")
        d = _train_data(data)
        if d.get("type") != "synthetic":
            raise SpecError("input features apply to the 2-D Playground sets only", file="spec")
        d["features"] = names
        _set_input_width(data, len(names))
    elif op == "toggle_feature":
        name = edit.get("name")
        if name not in FEATURE_NAMES:
            raise SpecError(f"features are {', '.join(FEATURE_NAMES)}", file="spec")
        d = _train_data(data)
        if d.get("type") != "synthetic":
            raise SpecError("input features apply to the 2-D Playground sets only", file="spec")
        now = d.get("features") or ["x1", "x2"]
        names = [n for n in FEATURE_NAMES if (n in now) != (n == name)]
        if not names:
            raise SpecError("at least one input feature must stay on", file="spec")
        d["features"] = names
        _set_input_width(data, len(names))
    elif op in ("noise", "test_split", "batch_size", "samples"):
        if op == "noise":
            _train_data(data)["noise"] = round(_number(edit, op, 0, 1), 4)
        elif op == "samples":
            _train_data(data)["samples"] = int(_number(edit, op, 10, 100_000))
        elif op == "test_split":
            data.setdefault("train", {})["test_split"] = round(_number(edit, op, 0.05, 0.95), 4)
        else:
            data.setdefault("train", {})["batch_size"] = int(_number(edit, op, 1, 10_000))
    elif op == "add_layer":
        hidden = _hidden(data)
        if len(hidden) >= MAX_HIDDEN:
            raise SpecError(f"at most {MAX_HIDDEN} hidden layers from the buttons", file="spec")
        like = hidden[-1] if hidden else {"units": 4, "activation": "tanh"}
        layer = {"type": "Dense", "units": like.get("units", 4), "activation": like.get("activation", "tanh")}
        for key in ("kernel_regularizer",):
            if key in like:
                layer[key] = like[key]
        layers = data["layers"]
        layers.insert(layers.index(_output(data)), layer)
    elif op == "remove_layer":
        hidden = _hidden(data)
        if hidden:
            data["layers"].remove(hidden[-1])
    elif op == "neurons":
        hidden = _hidden(data)
        i = edit.get("layer")
        if not isinstance(i, int) or not 0 <= i < len(hidden):
            raise SpecError(f"no hidden layer {i!r}", file="spec")
        delta = edit.get("delta")
        if delta not in (-1, 1):
            raise SpecError("delta must be -1 or 1", file="spec")
        units = hidden[i].get("units", 1)
        hidden[i]["units"] = max(1, min(MAX_UNITS, (units if isinstance(units, int) else 1) + delta))
    elif op == "learning_rate":
        rate = _number(edit, op, 1e-6, 10)
        compile_cfg = data.setdefault("compile", {})
        opt = compile_cfg.get("optimizer", "adam")
        if not isinstance(opt, dict):
            opt = {"type": _OPTIMIZER_CLASSES.get(str(opt).lower(), "Adam")}
        opt["learning_rate"] = rate
        compile_cfg["optimizer"] = opt
    elif op == "activation":
        value = edit.get("value")
        if value not in ACTIVATIONS:
            raise SpecError(f"activation must be one of {', '.join(ACTIVATIONS)}", file="spec")
        for layer in _hidden(data):
            layer["activation"] = value
    elif op == "regularization":
        kind = edit.get("kind")
        rate = _number(edit, "regularization rate", 0, 10)
        if kind not in ("none", "L1", "L2"):
            raise SpecError("regularization must be none, L1 or L2", file="spec")
        for layer in _dense(data):
            if kind == "none" or rate == 0:
                layer.pop("kernel_regularizer", None)
            else:
                layer["kernel_regularizer"] = {"type": kind, kind.lower(): rate}
    elif op == "problem":
        value = edit.get("value")
        if value not in ("classification", "regression"):
            raise SpecError("problem must be classification or regression", file="spec")
        current = _train_data(data).get("name")
        if value == "regression" and current not in REGRESSION_SETS:
            _dataset(data, {"name": "plane"})
        elif value == "classification" and current in REGRESSION_SETS:
            _dataset(data, {"name": "circles"})
    else:
        raise SpecError(f"unknown control {op!r}", file="spec")
    return dump(data, as_json)
