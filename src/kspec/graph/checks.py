"""Cross-field checks: small named functions in a registry, each testable alone.

A check reads the resolved graph (the spec and its wiring, shapes and counts) and yields a
located `SpecError` for every problem it sees; it never raises and never imports Keras.
`kspec check` runs all of them, so that whatever `kspec train` or `kspec build` would reject
for the spec alone is rejected at check time with file:line:col. Training runs them again
(the Python API can skip check), and the builders run `parameter_limit` before allocating.

    >>> sorted(CHECKS)[:3]
    ['callbacks', 'data_file', 'data_fits_inputs']

A check marked `warning=True` reports something that is fine to check but not to build or
train: a data file that does not exist yet (`kspec train` fails on it where it reads the data),
a model over the parameter limit (check shows its counts; building refuses it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from kspec import backend
from kspec.errors import Path, Problems, SpecError
from kspec.graph.resolve import Graph, sequential_message
from kspec.schema import datasets, limits
from kspec.schema.names import did_you_mean

CheckFn = Callable[[Graph], Iterator[SpecError]]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFn
    warning: bool = False


CHECKS: dict[str, Check] = {}


def check(name: str, *, warning: bool = False) -> Callable[[CheckFn], CheckFn]:
    """Register `fn` under `name` (the name tests and `run_checks(only=...)` use)."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = Check(name, fn, warning)
        return fn

    return register


def run_checks(
    graph: Graph,
    problems: Problems | None = None,
    only: tuple[str, ...] | None = None,
    *,
    warnings_are_errors: bool = False,
) -> None:
    """Run the registered checks (or `only` these); errors and warnings go to `problems`.

    Without `problems` the errors are raised together as one `SpecError`. Training passes
    `warnings_are_errors`: what check may let pass (no data file yet) it cannot.
    """
    own = problems is None
    problems = problems if problems is not None else Problems()
    for name, item in CHECKS.items():
        if only is not None and name not in only:
            continue
        for found in item.run(graph):
            (problems.warn if item.warning and not warnings_are_errors else problems.add)(found)
    if own:
        problems.raise_if_any()


def _spec_error(graph: Graph, path: Path, message: str) -> SpecError:
    return graph.spec.error(path, message)


# ------------------------------------------------------------------------------------ wiring


@check("reachable_layers")
def reachable_layers(graph: Graph) -> Iterator[SpecError]:
    """Every layer leads to an output (Keras drops the rest silently, or refuses to build)."""
    if not graph.sound:
        return  # a wiring error was reported: what it cut off is not a second mistake
    needed = graph.needed()
    for node in graph.nodes:
        if node.name not in needed:
            yield _spec_error(
                graph,
                node.spec.path,
                f"layer {node.name!r} does not lead to any output "
                f"(outputs: {graph.outputs}); remove it or add it to `outputs:`",
            )


@check("used_inputs")
def used_inputs(graph: Graph) -> Iterator[SpecError]:
    """Every model input is read by a layer that leads to an output, as Keras requires."""
    if not graph.sound:
        return
    needed = graph.needed()
    for inp in graph.inputs:
        if inp.name not in needed:
            yield _spec_error(
                graph, inp.path, f"input {inp.name!r} is not used by any layer that leads to an output"
            )


@check("sequential_api")
def sequential_api(graph: Graph) -> Iterator[SpecError]:
    """A spec that asks for `api: sequential` must be a single chain."""
    if graph.spec.api == "sequential" and graph.spec.api_given and graph.sound:
        problem = graph.sequential_problem()
        if problem is not None:
            yield _spec_error(graph, ("api",), sequential_message(problem))


# ----------------------------------------------------------------------------------- compile


def _compile(graph: Graph) -> dict[str, Any]:
    return graph.spec.compile if isinstance(graph.spec.compile, dict) else {}


def _is_mapping_by_output(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and "type" not in value


def _unknown_outputs(graph: Graph, value: dict[str, Any], path: Path) -> Iterator[SpecError]:
    outputs = list(graph.outputs)
    for key in value:
        if key not in outputs:
            yield _spec_error(
                graph,
                path + (key,),
                f"the model has no output {key!r}; its outputs are {', '.join(outputs)}"
                + did_you_mean(key, outputs),
            )


NEEDS_LOSS = (
    "training needs a loss: add `compile: {loss: sparse_categorical_crossentropy}` (or another Keras loss)"
)


@check("loss_for_training")
def loss_for_training(graph: Graph) -> Iterator[SpecError]:
    """A spec with a `train:` section needs a loss to train with."""
    if graph.spec.train is not None and _compile(graph).get("loss") is None:
        yield _spec_error(
            graph,
            ("compile",) if graph.spec.compile else ("train",),
            NEEDS_LOSS,
        )


@check("losses_match_outputs")
def losses_match_outputs(graph: Graph) -> Iterator[SpecError]:
    """`loss` is one loss, a list with one per output, or a mapping output name -> loss."""
    loss = _compile(graph).get("loss")
    path = ("compile", "loss")
    if isinstance(loss, list) and len(loss) != len(graph.outputs):
        yield _spec_error(
            graph, path, f"{len(loss)} losses for {len(graph.outputs)} output(s) ({', '.join(graph.outputs)})"
        )
    elif _is_mapping_by_output(loss):
        yield from _unknown_outputs(graph, loss, path)


@check("metrics_match_outputs")
def metrics_match_outputs(graph: Graph) -> Iterator[SpecError]:
    """`metrics` is a list for every output, or a mapping output name -> metric(s)."""
    metrics = _compile(graph).get("metrics")
    if _is_mapping_by_output(metrics):
        yield from _unknown_outputs(graph, metrics, ("compile", "metrics"))


@check("loss_weights_match_outputs")
def loss_weights_match_outputs(graph: Graph) -> Iterator[SpecError]:
    """`loss_weights` is a list with one weight per output, or a mapping output name -> weight."""
    weights = _compile(graph).get("loss_weights")
    path = ("compile", "loss_weights")
    if isinstance(weights, list) and len(weights) != len(graph.outputs):
        yield _spec_error(
            graph,
            path,
            f"{len(weights)} loss weights for {len(graph.outputs)} output(s) ({', '.join(graph.outputs)})",
        )
    elif isinstance(weights, dict):
        yield from _unknown_outputs(graph, weights, path)


# -------------------------------------------------------------------------------------- data


def _data(graph: Graph) -> dict[str, Any]:
    train = graph.spec.train if isinstance(graph.spec.train, dict) else {}
    data = train.get("data")
    return data if isinstance(data, dict) else {}


DATA: Path = ("train", "data")


@check("data_matches_inputs")
def data_matches_inputs(graph: Graph) -> Iterator[SpecError]:
    """One-table sources feed one input; npz arrays are mapped to the model's own input/output names."""
    data = _data(graph)
    kind = data.get("type")
    in_names = [i.name for i in graph.inputs]
    if kind in datasets.ONE_TABLE_SOURCES and len(in_names) > 1:
        yield _spec_error(
            graph,
            DATA,
            f"{kind} data has one feature table but the model has {len(in_names)} inputs "
            f"({', '.join(in_names)}); use npz or csv data mapped by input name",
        )
    if kind != "npz":
        return
    for key, names, what in (("x", in_names, "input"), ("y", list(graph.outputs), "output")):
        value = data.get(key, key)
        if isinstance(value, dict):
            for unknown in (k for k in value if k not in names):
                yield _spec_error(
                    graph,
                    DATA + (key, unknown),
                    f"the model has no {what} {unknown!r}; its {what}s are {', '.join(names)}"
                    + did_you_mean(unknown, names),
                )
            for missing in (n for n in names if n not in value):
                yield _spec_error(graph, DATA + (key,), f"no array given for {what} {missing!r}")
        elif what == "input" and len(names) > 1:
            yield _spec_error(
                graph,
                DATA + (key,),
                f"the model has {len(names)} inputs ({', '.join(names)}); "
                "map each to an array: {input_name: array_name, ...}",
            )


_CLASS_LOSSES = ("sparsecategoricalcrossentropy", "categoricalcrossentropy", "categoricalfocalcrossentropy")


def _loss_name(loss: Any) -> str:
    if isinstance(loss, dict):
        loss = loss.get("type", "")
    return str(loss or "").replace("_", "").lower()


@check("data_fits_inputs")
def data_fits_inputs(graph: Graph) -> Iterator[SpecError]:
    """A bundled dataset's rows must fit the input's shape, and its classes the output's units."""
    data = _data(graph)
    facts = datasets.known_dataset(data)
    if facts is None or len(graph.inputs) != 1:
        return
    inp = graph.inputs[0]
    if not datasets.fits_input(facts.features, inp.shape):
        yield _spec_error(
            graph,
            DATA,
            f"{data.get('name')} rows have shape {list(facts.features)}; the input {inp.name!r} "
            f"expects {list(inp.shape)} (a reshape must keep the {_size(facts.features)} values)",
        )
    if facts.classes is None:
        return
    loss = _compile(graph).get("loss")
    for k, out in enumerate(graph.outputs):
        one: Any = loss.get(out) if _is_mapping_by_output(loss) else loss
        if isinstance(loss, list) and len(loss) == len(graph.outputs):
            one = loss[k]
        shape = graph.shapes.get(out)
        units = shape[-1] if shape else None
        if _loss_name(one) in _CLASS_LOSSES and isinstance(units, int) and units < facts.classes:
            yield _spec_error(
                graph,
                ("compile", "loss"),
                f"{data.get('name')} has {facts.classes} classes but the output {out!r} has {units} "
                f"unit(s); {one.get('type') if isinstance(one, dict) else one} needs one per class",
            )


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@check("splits_leave_training_rows")
def splits_leave_training_rows(graph: Graph) -> Iterator[SpecError]:
    """test_split and validation_split must leave training rows (when the row count is known)."""
    train = graph.spec.train if isinstance(graph.spec.train, dict) else {}
    facts = datasets.known_dataset(_data(graph))
    if facts is None or facts.rows is None:
        return
    test_split = train.get("test_split", 0.2)
    validation_split = train.get("validation_split", 0.0)
    rows, _, _ = datasets.split_sizes(facts.rows, test_split, validation_split)
    if rows < 1:
        which = "test_split" if "test_split" in train else "validation_split"
        yield _spec_error(
            graph,
            ("train", which),
            f"no training rows left: {facts.rows} rows, test_split={test_split}, "
            f"validation_split={validation_split}",
        )


def _data_path(graph: Graph) -> str | None:
    path = _data(graph).get("path")
    return path if isinstance(path, str) else None


@check("data_file", warning=True)
def data_file(graph: Graph) -> Iterator[SpecError]:
    """`train.data.path` should name a file (a warning: a model can be checked before its data exists)."""
    path = _data_path(graph)
    problem = None if path is None else datasets.missing_data_file(graph.spec.base_dir, path)
    if problem is not None:
        yield _spec_error(graph, DATA + ("path",), problem)


@check("data_file_is_a_file")
def data_file_is_a_file(graph: Graph) -> Iterator[SpecError]:
    """What `train.data.path` names, when it exists, is a regular file (not a folder or a FIFO)."""
    path = _data_path(graph)
    problem = None if path is None else datasets.not_a_data_file(graph.spec.base_dir, path)
    if problem is not None:
        yield _spec_error(graph, DATA + ("path",), problem)


# ---------------------------------------------------------------------------------- resources


@check("parameter_limit", warning=True)
def parameter_limit(graph: Graph) -> Iterator[SpecError]:
    """The model's counted parameters stay under `--max-params` / $KSPEC_MAX_PARAMS / 1e9.

    A warning in `kspec check`, which allocates nothing and still shows the counts; building
    (and so training) refuses the model before Keras allocates a weight
    (`kspec.schema.limits.check_graph`, which also counts layers outside the registry)."""
    error = limits.over_limit(graph)
    if error is not None:
        yield error


# ---------------------------------------------------------------------------------- callbacks


@check("callbacks")
def callbacks(graph: Graph) -> Iterator[SpecError]:
    """Callback arguments Keras refuses when training starts, found before it does."""
    train = graph.spec.train if isinstance(graph.spec.train, dict) else {}
    items = train.get("callbacks") or []
    seen: dict[str, int] = {}
    for i, item in enumerate(items if isinstance(items, list) else []):
        item = {"type": item} if isinstance(item, str) else item
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        path = ("train", "callbacks", i)
        if kind in seen and kind in ("BackupAndRestore", "EarlyStopping", "TerminateOnNaN"):
            yield _spec_error(
                graph, path + ("type",), f"{kind} is listed twice (first at callbacks[{seen[kind]}])"
            )
        seen.setdefault(str(kind), i)
        if kind == "ModelCheckpoint":
            target = item.get("filepath")
            weights_only = item.get("save_weights_only", False)
            suffix = ".weights.h5" if weights_only else ".keras"
            if not isinstance(target, str):
                yield _spec_error(
                    graph, path, "ModelCheckpoint needs `filepath` (a file name in the run folder)"
                )
            elif not target.endswith(suffix):
                yield _spec_error(
                    graph,
                    path + ("filepath",),
                    f"ModelCheckpoint's filepath must end in {suffix!r}"
                    + (" with save_weights_only: true" if weights_only else "")
                    + f", got {target!r}",
                )


# ------------------------------------------------------------------------ backend kernels


@check("tensorflow_kernels")
def tensorflow_kernels(graph: Graph) -> Iterator[SpecError]:
    """On TensorFlow (the default backend), arguments Keras accepts but TensorFlow's CPU kernels
    cannot run: each layer rule says which (`LayerArgs.tensorflow_problem`). Training would stop
    with a oneDNN traceback, or the process would die without one; on JAX and PyTorch they run."""
    running = backend.active() or backend.choose(graph.options.backend, graph.spec.backend)
    if running != "tensorflow":
        return
    for node in graph.nodes:
        rule = node.spec.rule
        shapes = [graph.shapes.get(s) for s in node.sources]
        if rule is None or not shapes or any(s is None for s in shapes):
            continue
        try:
            found = rule.tensorflow_problem(shapes)  # type: ignore[arg-type]
        except ValueError:
            continue  # the layer's own shape error is reported where its shape is computed
        if found is not None:
            key, reason = found
            path = node.spec.path + ((key,) if key in node.spec.args else ())
            yield _spec_error(graph, path, f"{node.type} {node.name!r}: {reason}")
