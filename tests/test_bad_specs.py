"""A catalogue of bad specs: each gives exit code 2 and ONE located line on stderr, for every command.

Each case is spec text with a `»` marking where the error must point: the expected line and
column come from the text as written, not from kspec's output. The expected spec path and a
message pattern are written beside it. Every command (check, build, plot, train, compare) must
answer with `error: FILE:LINE:COL: PATH: MESSAGE` on one stderr line, no traceback, exit code 2,
and leave nothing on disk (no model file, diagram, run folder or temporary file).

Errors about the file as a whole (syntax, encoding, size, the root not being a mapping) have
no spec path: `error: FILE:LINE:COL: MESSAGE`; those cases say `path=""`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

from kspec.cli import main
from kspec.schema.loader import MAX_BYTES

MARK = "»"
INPUT = "inputs:\n  - {name: x, shape: [4]}\n"
DENSE = "layers:\n  - {type: Dense, units: 2}\n"
BASE = INPUT + DENSE
ALL = ("check", "build", "plot", "train", "compare")
BUILDING = ("build", "train", "compare")  # commands that create Keras layers


@dataclass
class Case:
    id: str
    text: str | bytes
    path: str  # the spec path in the message ("" for errors about the file as a whole)
    message: str  # regex searched in the message
    commands: tuple[str, ...] = ALL
    suffix: str = ".yaml"
    dirs: tuple[str, ...] = ()  # folders to create beside the spec
    line_col: tuple[int, int] | None = None  # for texts that cannot carry the marker

    def content(self) -> bytes:
        text = self.text if isinstance(self.text, bytes) else self.text.encode("utf-8")
        return text.replace(MARK.encode("utf-8"), b"")

    def position(self) -> tuple[int, int]:
        """(line, column) of the marker, 1-based; columns count characters (bytes before a bad byte)."""
        if self.line_col is not None:
            return self.line_col
        text = self.text if isinstance(self.text, str) else self.text.decode("utf-8", "surrogateescape")
        assert text.count(MARK) == 1, self.id
        before = text[: text.index(MARK)]
        return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        anchor = ("»" if cur == "f" else "") + f"&{cur}"  # 1e6 nodes at f: over the 2e5 limit
        lines.append(f"{cur}: {anchor} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


_HUGE = (4 * 100_000 + 100_000) + (100_000 * 100_000 + 100_000) + (100_000 * 3 + 3)

CASES = [
    # --- the file itself -------------------------------------------------------------------
    Case("yaml_tab_indent", "inputs:\n»\t- {name: x, shape: [4]}\n" + DENSE, "", r"YAML syntax error.*'\\t'"),
    Case(
        "yaml_mapping_in_scalar",
        "name: a»: b\n" + BASE,
        "",
        r"YAML syntax error: mapping values are not allowed",
    ),
    Case("yaml_undefined_alias", "name: »*nope\n" + BASE, "", r"YAML syntax error.*undefined alias"),
    Case(
        "json_trailing_comma",
        '{"inputs": [{"name": "x", "shape": [4]},»]}',
        "",
        r"JSON syntax error: Expecting value",
        suffix=".json",
    ),
    Case(
        "json_single_quotes",
        "{»'inputs': []}",
        "",
        r"JSON syntax error: Expecting property name",
        suffix=".json",
    ),
    Case("empty_file", "»", "", r"the spec is empty"),
    Case("only_comments", "»# nothing here\n# at all\n", "", r"the spec is empty"),
    Case("root_is_a_list", "»- type: Dense\n- type: Dense\n", "", r"a spec must be a mapping.*got list"),
    Case("root_is_a_scalar", "»hello\n", "", r"a spec must be a mapping.*got str"),
    Case(
        "not_utf8",
        b"inputs:\n  - {name: x, shape: [4]}\nlayers:\n  - {type: Dense, units: 2, name: caf\xc2\xbb\xe9}\n",
        "",
        r"not UTF-8 text \(byte 0xe9",
    ),
    Case("huge_file", "»name: big\n" + "#" * MAX_BYTES + "\n" + BASE, "", r"file too large.*limit is"),
    Case("alias_bomb", _bomb(), "f", r"spec too large: more than 200,000 nodes.*alias bomb"),
    Case("recursive_alias", "name: x\nloop: »&a [1, *a]\n" + BASE, "", r"recursive alias"),
    Case(
        "nested_101_deep",
        "name: " + "[" * 100 + "»[" + "]" * 101 + "\n" + BASE,
        "",
        r"nested more than 100 levels",
    ),
    Case(
        "nested_5000_deep",
        "name: " + "[" * 100 + "»[" + "[" * 4900 + "]" * 5001 + "\n" + BASE,
        "",
        r"nested more than 100 levels",
    ),
    # --- no code from a spec ----------------------------------------------------------------
    Case(
        "python_object_tag",
        "name: »!!python/object/apply:os.system ['echo pwned']\n" + BASE,
        "name",
        r"YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    Case(
        "python_name_tag",
        INPUT + "layers:\n  - {type: Dense, units: 2, activation: »!!python/name:os.system ''}\n",
        "layers[0].activation",
        r"YAML tag .*python/name:os.system.* is not allowed",
    ),
    Case(
        "custom_tag",
        INPUT + "layers:\n  - »!layer {type: Dense, units: 2}\n",
        "layers[0]",
        r"YAML tag '!layer' is not allowed",
    ),
    Case(
        "lambda_layer",
        INPUT + "layers:\n  - {type: »Lambda, function: 'lambda x: x'}\n",
        "layers[0].type",
        r"Lambda layers run code .* refused; pass --allow-unsafe",
    ),
    Case(
        "unsafe_callback",
        BASE + "train:\n  data: {type: sklearn, name: iris}\n  callbacks: [»{type: LambdaCallback}]\n",
        "train.callbacks[0]",
        r"callback 'LambdaCallback' runs code .* not allowed",
    ),
    Case(
        "plugin_bad_module_name",
        "plugins: [»'os; rm -rf']\n" + BASE,
        "plugins[0]",
        r"must be a Python module name",
    ),
    Case(
        "plugin_not_trusted",
        "plugins: [»json]\n" + BASE,
        "plugins[0]",
        r"plugin module 'json' is code.*pass --plugin json",
        commands=BUILDING,
    ),
    # --- structure --------------------------------------------------------------------------
    Case(
        "duplicate_key", BASE + "»inputs:\n  - {name: y, shape: [4]}\n", "inputs", r"duplicate key 'inputs'"
    ),
    Case(
        "unknown_top_key",
        INPUT + "layer: »[{type: Dense, units: 2}]\n",
        "layer",
        r"unknown key 'layer' in the spec; did you mean 'layers'\?",
    ),
    Case("missing_layers", "»" + INPUT, "", r"required key 'layers' is missing"),
    Case("empty_layers", INPUT + "layers: »[]\n", "layers", r"must have at least 1 entries"),
    Case("inputs_not_a_list", "inputs: »x\n" + DENSE, "inputs", r"must be a list, got 'x'"),
    Case("format_version_2", "kspec: »2\n" + BASE, "kspec", r"must be 1, got 2"),
    Case("unknown_api", "api: »sequental\n" + BASE, "api", r"did you mean 'sequential'\?"),
    Case(
        "negative_seed",
        "seed: »-1\n" + BASE,
        "seed",
        r"must be a seed: an integer from 0 to 2\*\*32 - 1, got -1",
    ),
    # --- inputs -----------------------------------------------------------------------------
    Case(
        "shape_not_a_list",
        "inputs:\n  - {name: x, shape: »4}\n" + DENSE,
        "inputs[0].shape",
        r"must be a list, got 4",
    ),
    Case(
        "shape_negative",
        "inputs:\n  - {name: x, shape: [»-1]}\n" + DENSE,
        "inputs[0].shape[0]",
        r"must be a positive integer or null.*got -1",
    ),
    Case(
        "shape_zero",
        "inputs:\n  - {name: x, shape: [3, »0]}\n" + DENSE,
        "inputs[0].shape[1]",
        r"must be a positive integer or null.*got 0",
    ),
    Case(
        "shape_string",
        "inputs:\n  - {name: x, shape: [»four]}\n" + DENSE,
        "inputs[0].shape[0]",
        r"must be a positive integer or null.*got 'four'",
    ),
    Case(
        "unknown_dtype",
        "inputs:\n  - {name: x, shape: [4], dtype: »flot32}\n" + DENSE,
        "inputs[0].dtype",
        r"unknown dtype 'flot32'; did you mean 'float32'\?",
    ),
    Case(
        "input_without_name",
        "inputs:\n  - »{shape: [4]}\n" + DENSE,
        "inputs[0].name",
        r"required key 'name' is missing",
    ),
    Case(
        "unknown_input_key",
        "inputs:\n  - {name: x, shap: »[4]}\n" + DENSE,
        "inputs[0].shap",
        r"unknown key 'shap' in an input; did you mean 'shape'\?",
    ),
    # --- layer arguments --------------------------------------------------------------------
    Case(
        "units_negative",
        INPUT + "layers:\n  - {type: Dense, units: »-3}\n",
        "layers[0].units",
        r"must be a positive integer, got -3",
    ),
    Case(
        "units_zero",
        INPUT + "layers:\n  - {type: Dense, units: »0}\n",
        "layers[0].units",
        r"must be a positive integer, got 0",
    ),
    Case(
        "units_float",
        INPUT + "layers:\n  - {type: Dense, units: »2.5}\n",
        "layers[0].units",
        r"must be a positive integer, got 2.5",
    ),
    Case(
        "units_string",
        INPUT + "layers:\n  - {type: Dense, units: »ten}\n",
        "layers[0].units",
        r"must be a positive integer, got 'ten'",
    ),
    Case(
        "units_bool",
        INPUT + "layers:\n  - {type: Dense, units: »true}\n",
        "layers[0].units",
        r"must be a positive integer, got True",
    ),
    Case(
        "units_missing",
        INPUT + "layers:\n  - »{type: Dense}\n",
        "layers[0].units",
        r"required key 'units' is missing",
    ),
    Case(
        "unknown_layer_type",
        INPUT + "layers:\n  - {type: »Dens, units: 2}\n",
        "layers[0].type",
        r"unknown layer type 'Dens'; did you mean 'Dense'\?",
    ),
    Case(
        "layer_type_not_a_string",
        INPUT + "layers:\n  - {type: »3}\n",
        "layers[0].type",
        r"must be a (string|layer class name), got 3",
    ),
    Case(
        "layer_without_type",
        INPUT + "layers:\n  - »{units: 2}\n",
        "layers[0].type",
        r"required key 'type' is missing",
    ),
    Case("layer_not_a_mapping", INPUT + "layers:\n  - »Dense\n", "layers[0]", r"must be a mapping"),
    Case(
        "unknown_argument",
        INPUT + "layers:\n  - {type: Dense, units: 2, activaton: »relu}\n",
        "layers[0].activaton",
        r"Dense has no argument 'activaton'; did you mean 'activation'\?",
    ),
    Case(
        "unknown_activation",
        INPUT + "layers:\n  - {type: Dense, units: 2, activation: »rleu}\n",
        "layers[0].activation",
        r"unknown activation 'rleu'; did you mean 'relu'\?",
    ),
    Case(
        "unknown_initializer",
        INPUT + "layers:\n  - {type: Dense, units: 2, kernel_initializer: »glorot_unifrom}\n",
        "layers[0].kernel_initializer",
        r"unknown initializer 'glorot_unifrom'; did you mean 'glorot_uniform'\?",
    ),
    Case(
        "unknown_initializer_class",
        INPUT
        + "layers:\n  - type: Dense\n    units: 2\n    kernel_initializer: »{type: RandomNorml, stddev: 0.1}\n",
        "layers[0].kernel_initializer",
        r"unknown initializer 'RandomNorml'; did you mean 'RandomNormal'\?",
    ),
    Case(
        "initializer_argument_type",
        INPUT
        + "layers:\n  - {type: Dense, units: 2, kernel_initializer: {type: RandomNormal, stddev: »wide}}\n",
        "layers[0].kernel_initializer.stddev",
        r"initializer RandomNormal argument 'stddev' must be a number, got 'wide'",
    ),
    Case(
        "unknown_regularizer",
        INPUT + "layers:\n  - {type: Dense, units: 2, kernel_regularizer: »l3}\n",
        "layers[0].kernel_regularizer",
        r"unknown regularizer 'l3'",
    ),
    Case(
        "dropout_rate_above_one",
        INPUT + "layers:\n  - {type: Dropout, rate: »1.5}\n",
        "layers[0].rate",
        r"1.5",
    ),
    Case(
        "bad_layer_name",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: »'a b'}\n",
        "layers[0].name",
        r"must be a name of ASCII letters, digits",
    ),
    # --- names and wiring -------------------------------------------------------------------
    Case(
        "duplicate_layer_name",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: h}\n  - {type: Dense, units: 2, name: »h}\n",
        "layers[1].name",
        r"duplicate name 'h' \(first used at line 4\)",
    ),
    Case(
        "layer_named_like_input",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: »x}\n",
        "layers[0].name",
        r"duplicate name 'x' \(first used at line 2\)",
    ),
    Case(
        "dangling_input",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: h}\n  - {type: Dense, units: 1, inputs: »hh}\n",
        "layers[1].inputs",
        r"unknown input 'hh'; did you mean 'h'\?",
    ),
    Case(
        "later_defined_input",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: a, inputs: »b}\n"
        "  - {type: Dense, units: 2, name: b, inputs: x}\n",
        "layers[0].inputs",
        r"'b' is defined later \(line 5\)",
    ),
    Case(
        "reads_itself",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: a, inputs: »a}\n",
        "layers[0].inputs",
        r"layer 'a' reads itself \(a cycle\)",
    ),
    Case(
        "several_inputs_unwired",
        "inputs:\n  - {name: a, shape: [4]}\n  - {name: b, shape: [4]}\nlayers:\n"
        "  - »{type: Dense, units: 2}\n",
        "layers[0]",
        r"the first layer must say which input it reads",
    ),
    Case(
        "unused_input",
        "inputs:\n  - {name: a, shape: [4]}\n  - »{name: b, shape: [4]}\nlayers:\n"
        "  - {type: Dense, units: 2, inputs: a}\n",
        "inputs[1]",
        r"input 'b' is not used",
    ),
    Case(
        "dead_layer",
        INPUT
        + "layers:\n  - {type: Dense, units: 2, name: a}\n  - »{type: Dense, units: 2, name: b, inputs: x}\n"
        "outputs: [a]\n",
        "layers[1]",
        r"layer 'b' does not lead to any output",
    ),
    Case(
        "unknown_output",
        BASE + "outputs: [»dens]\n",
        "outputs[0]",
        r"unknown layer 'dens'; did you mean 'dense'\?",
    ),
    Case(
        "input_as_output",
        BASE + "outputs: [dense, »x]\n",
        "outputs[1]",
        r"unknown layer 'x' \(an input cannot be an output\)",
    ),
    # --- shapes -----------------------------------------------------------------------------
    Case(
        "merge_shape_mismatch",
        INPUT + "layers:\n  - {type: Dense, units: 2, name: a}\n"
        "  - {type: Dense, units: 3, name: b, inputs: x}\n  - »{type: Add, inputs: [a, b]}\n",
        "layers[2]",
        r"Add 'add'.*same shape.*\(None, 2\).*\(None, 3\)",
    ),
    Case(
        "concatenate_rank_mismatch",
        "inputs:\n  - {name: a, shape: [4]}\n  - {name: b, shape: [2, 4]}\nlayers:\n"
        "  - »{type: Concatenate, inputs: [a, b]}\n",
        "layers[0]",
        r"Concatenate 'concatenate'",
    ),
    Case(
        "merge_of_one",
        INPUT + "layers:\n  - {type: Add, inputs: »[x]}\n",
        "layers[0].inputs",
        r"Add takes .*input\(s\), got 1",
    ),
    Case(
        "conv_on_flat_input",
        INPUT + "layers:\n  - »{type: Conv2D, filters: 2, kernel_size: 3}\n",
        "layers[0]",
        r"Conv2D 'conv2d'.*rank-4 input.*\(None, 4\)",
    ),
    Case(
        "kernel_larger_than_input",
        "inputs:\n  - {name: x, shape: [2, 2, 1]}\nlayers:\n"
        "  - »{type: Conv2D, filters: 2, kernel_size: 3}\n",
        "layers[0]",
        r"Conv2D 'conv2d'",
    ),
    Case(
        "sequential_of_branching",
        "api: »sequential\n" + INPUT + "layers:\n  - {type: Dense, units: 2, name: a}\n"
        "  - {type: Dense, units: 2, name: b, inputs: x}\n  - {type: Add, inputs: [a, b]}\n",
        "api",
        r"the Sequential API cannot build this graph",
    ),
    Case(
        "too_many_parameters",
        INPUT + "layers:\n  - {type: Dense, units: 100000}\n  - »{type: Dense, units: 100000}\n"
        "  - {type: Dense, units: 3}\n",
        "layers[1]",
        # Dense: inputs*units + units; 4 copies of float32 (weights, gradients, Adam's 2 moments)
        rf"{_HUGE:,} parameters \(about {_HUGE * 16 / 2**30:,.1f} GiB to train with Adam in float32\), "
        r"over the limit of 1,000,000,000; the largest layer, 'dense_1', has 10,000,100,000",
        commands=BUILDING,
    ),
    # --- compile ----------------------------------------------------------------------------
    Case(
        "unknown_optimizer",
        BASE + "compile: {optimizer: »adamm, loss: mse}\n",
        "compile.optimizer",
        r"unknown optimizer 'adamm'; did you mean 'adam'\?",
    ),
    Case(
        "unknown_loss",
        BASE + "compile: {loss: »msee}\n",
        "compile.loss",
        r"unknown loss 'msee'; did you mean 'mse'\?",
    ),
    Case(
        "unknown_metric",
        BASE + "compile: {loss: mse, metrics: [»acuracy]}\n",
        "compile.metrics[0]",
        r"unknown metric 'acuracy'; did you mean 'accuracy'\?",
    ),
    Case(
        "unknown_lr_schedule",
        BASE + "compile:\n  optimizer: {type: Adam, learning_rate: {type: »CosineDecy}}\n",
        "compile.optimizer.learning_rate.type",
        r"unknown learning-rate schedule 'CosineDecy'",
    ),
    Case(
        "unknown_compile_key",
        BASE + "compile: {optimiser: »adam}\n",
        "compile.optimiser",
        r"unknown key 'optimiser' in compile; did you mean 'optimizer'\?",
    ),
    # --- train ------------------------------------------------------------------------------
    Case(
        "unknown_data_type",
        BASE + "train:\n  data: {type: »sklean, name: iris}\n",
        "train.data.type",
        r"'type' must be one of .*got 'sklean'; did you mean 'sklearn'\?",
    ),
    Case(
        "unknown_sklearn_dataset",
        BASE + "train:\n  data: {type: sklearn, name: »digts}\n",
        "train.data.name",
        r"got 'digts'; did you mean 'digits'\?",
    ),
    Case(
        "missing_data_file",
        BASE + "compile: {loss: mse}\ntrain:\n  data: {type: npz, path: »nope.npz}\n",
        "train.data.path",
        r"no such file 'nope.npz' \(paths are relative to the spec file\)",
        commands=("train",),  # check warns (the model can be checked before its data exists)
    ),
    Case(
        "data_path_is_a_folder",
        BASE + "compile: {loss: mse}\ntrain:\n  data: {type: csv, path: »data.csv, label: y}\n",
        "train.data.path",
        r"'data.csv' is not a file",
        dirs=("data.csv",),
        commands=("train",),
    ),
    Case(
        "epochs_zero",
        BASE + "train:\n  data: {type: sklearn, name: iris}\n  epochs: »0\n",
        "train.epochs",
        r"must be a positive integer, got 0",
    ),
    Case(
        "validation_split_one",
        BASE + "train:\n  data: {type: sklearn, name: iris}\n  validation_split: »1.0\n",
        "train.validation_split",
        r"must be a number in \[0, 1\), got 1.0",
    ),
    Case(
        "unknown_callback",
        BASE + "train:\n  data: {type: sklearn, name: iris}\n  callbacks: [»EarlyStoping]\n",
        "train.callbacks[0]",
        r"unknown callback 'EarlyStoping'; did you mean 'EarlyStopping'\?",
    ),
    Case(
        "unknown_train_key",
        BASE + "train:\n  data: {type: sklearn, name: iris}\n  epoch: »3\n",
        "train.epoch",
        r"unknown key 'epoch' in train; did you mean 'epochs'\?",
    ),
    Case(
        "train_without_data", BASE + "train: »{epochs: 3}\n", "train.data", r"required key 'data' is missing"
    ),
]

CASE_IDS = [c.id for c in CASES]
BY_ID = {c.id: c for c in CASES}


def _argv(command: str, spec: str, out: str) -> list[str]:
    return {
        "check": ["check", spec],
        "build": ["build", spec, "--save", os.path.join(out, "model.keras")],
        "plot": ["plot", spec, "-o", os.path.join(out, "model.png")],
        "train": ["train", spec, "-o", os.path.join(out, "run"), "--epochs", "1", "--quiet"],
        "compare": ["compare", spec, "-o", os.path.join(out, "compare")],
    }[command]


def _is_stub(command: str) -> bool:
    import importlib

    module = importlib.import_module(f"kspec.cli.{command}")
    return "not implemented yet" in open(module.__file__, encoding="utf-8").read()


def _params():
    for case in CASES:
        for command in case.commands:
            marks = (
                [pytest.mark.xfail(reason=f"kspec {command} is still a stub", strict=False)]
                if _is_stub(command)
                else []
            )
            yield pytest.param(case, command, id=f"{case.id}-{command}", marks=marks)


TRAIN = "train:\n  data: {type: sklearn, name: iris}\n  epochs: 1\n"


def _write(case: Case, folder, command: str = "check") -> str:
    """Write the case's spec; for `train`, a spec without `train:` gets a valid one appended
    (below the marker, so positions hold) and the error must still be the case's own."""
    spec = folder / f"bad{case.suffix}"
    content = case.content()
    if (
        command == "train"
        and case.path
        and case.suffix == ".yaml"
        and b"train:" not in content
        and content.endswith(b"\n")
    ):
        content += TRAIN.encode()
        if b"compile:" not in content:  # a train section needs a loss: only the case's error is wanted
            content += b"compile: {loss: mse}\n"
    spec.write_bytes(content)
    for d in case.dirs:
        (folder / d).mkdir()
    return str(spec)


def expected_line(case: Case, file: str) -> re.Pattern[str]:
    line, col = case.position()
    where = f"{re.escape(file)}:{line}:{col}: "
    if case.path:
        where += re.escape(case.path) + ": "
    return re.compile("^error: " + where + "(?P<message>.*)$")


def assert_one_located_line(case: Case, file: str, err: str) -> None:
    # `kspec train` cases get a train section appended (below the case's own text): an error it
    # causes for this model (two inputs, one sklearn table) is a second, independent one.
    own = case.content().count(b"\n") + 1
    lines = [
        x
        for x in err.splitlines()
        if x.strip()
        and not re.fullmatch(r"\d+ errors", x)
        and not ((m := re.match(re.escape(f"error: {file}:") + r"(\d+):", x)) and int(m[1]) > own)
    ]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    match = expected_line(case, file).match(lines[0])
    assert match, f"\n   got: {lines[0]}\nwanted: {expected_line(case, file).pattern}"
    assert re.search(case.message, match["message"]), f"message {match['message']!r} !~ {case.message!r}"


def test_catalogue_is_large_enough():
    assert len(CASES) >= 40
    assert len(set(CASE_IDS)) == len(CASE_IDS)


@pytest.mark.parametrize(("case", "command"), list(_params()))
def test_bad_spec(case: Case, command: str, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KSPEC_MAX_PARAMS", raising=False)
    spec = _write(case, tmp_path, command)
    out = tmp_path / "out"
    before = sorted(os.listdir(tmp_path))
    rc = main(_argv(command, spec, str(out)))
    captured = capsys.readouterr()
    assert rc == 2, f"exit code {rc}; stderr:\n{captured.err}"
    assert_one_located_line(case, spec, captured.err)
    assert not out.exists(), f"{command} left {sorted(p.name for p in out.rglob('*'))}"
    assert sorted(os.listdir(tmp_path)) == before, "files appeared beside the spec"


def test_bad_spec_python_api_raises_spec_error_at_the_same_place(tmp_path):
    """`kspec.load` + `kspec.check` raise the same located `SpecError` the CLI prints."""
    import kspec

    for case in CASES:
        if "check" not in case.commands:
            continue
        folder = tmp_path / case.id
        folder.mkdir()
        spec = _write(case, folder)
        with pytest.raises(kspec.SpecError) as info:
            kspec.check(kspec.load(spec))
        assert expected_line(case, spec).match(f"error: {info.value}"), (case.id, str(info.value))
        line, col = case.position()
        assert (info.value.line, info.value.col) == (line, col), case.id


SUBPROCESS_CASES = ["yaml_tab_indent", "python_object_tag", "merge_shape_mismatch", "not_utf8"]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_spec_real_process_check(case_id, tmp_path):
    """The installed console entry point, in a real process: exit 2, one line, no traceback."""
    case = BY_ID[case_id]
    spec = _write(case, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "kspec", "check", spec],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_located_line(case, spec, proc.stderr)
    assert proc.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["too_many_parameters", "plugin_not_trusted"])
def test_bad_spec_real_process_build(case_id, tmp_path):
    """`kspec build --save` in a real process (TensorFlow loaded): refused, and no file is written."""
    case = BY_ID[case_id]
    spec = _write(case, tmp_path)
    out = tmp_path / "m.keras"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KSPEC_MAX_PARAMS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "kspec", "build", spec, "--save", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_located_line(case, spec, proc.stderr)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.yaml"]
