"""The spec format, version 1, as pydantic models (validation and `kspec schema` in one place).

Layers are validated separately, by the registry entry of their `type`
(`kspec.layers.registry`), because their arguments depend on the type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator

from kspec.schema import names
from kspec.schema.types import (
    ArgumentError,
    Bool,
    DType,
    Int,
    Name,
    Number,
    PositiveInt,
    Rate,
    Ref,
    Seed,
    Str,
    check_keras_arguments,
    named_or_typed,
)

# The three construction APIs, in the order every table and diagram shows them.
APIS = ("sequential", "functional", "subclass")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _dim(v: Any) -> int | None:
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
        return v
    raise ValueError(f"must be a positive integer or null (unknown length), got {v!r}")


Dim = Annotated[
    Any,
    PlainValidator(_dim),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}),
]


def _check_schedule(kind: str, value: dict[str, Any]) -> None:
    """An optimizer's `learning_rate` may be a schedule given as `{type: ExponentialDecay, ...}`."""
    schedule = value.get("learning_rate")
    if isinstance(schedule, dict) and "type" in schedule:
        t = schedule["type"]
        if not isinstance(t, str) or t not in names.LEARNING_RATE_SCHEDULES:
            raise ArgumentError(
                names.unknown("learning-rate schedule", t, names.LEARNING_RATE_SCHEDULES),
                ("learning_rate", "type"),
            )
        try:
            check_keras_arguments("learning-rate schedule", schedule)
        except ArgumentError as exc:
            raise ArgumentError(str(exc), ("learning_rate", *exc.subpath)) from None


def _no_check(kind: str, value: dict[str, Any]) -> None:
    """Loss and metric objects take class-specific arguments; Keras checks them at compile."""


OptimizerRef = named_or_typed("optimizer", names.OPTIMIZERS, allow_none=False, check_args=_check_schedule)
LossRef = named_or_typed("loss", names.LOSSES, allow_none=False, check_args=_no_check)
MetricRef = named_or_typed("metric", names.METRICS, allow_none=False, check_args=_no_check)


def _per_output(ref: Any, kind: str):
    """One value, a list (one per output), or a mapping output name -> value(s)."""
    return Union[ref, list[ref], dict[str, ref | list[ref] | None], None]  # noqa: UP007  (built from a runtime type)


class InputModel(Strict):
    """A model input (`keras.Input`)."""

    name: Name = Field(description="input name; layers refer to it in `inputs:`")
    shape: list[Dim] = Field(description="shape without the batch dimension; null = any length")
    dtype: DType = Field("float32", description="tensor dtype")


class CompileModel(Strict):
    """Arguments of `model.compile`."""

    optimizer: OptimizerRef = Field("adam", description="name, or {type: Adam, learning_rate: 0.001}")  # type: ignore[valid-type]
    loss: _per_output(LossRef, "loss") = Field(None, description="loss name/object, or one per output")  # type: ignore[valid-type]
    metrics: _per_output(MetricRef, "metric") = None  # type: ignore[valid-type]
    loss_weights: list[Number] | dict[str, Number] | None = None
    jit_compile: Bool | Literal["auto"] = "auto"
    steps_per_execution: PositiveInt = 1
    run_eagerly: Bool = False


class SklearnData(Strict):
    """A dataset that ships inside scikit-learn (offline)."""

    type: Literal["sklearn"]
    name: Literal["digits", "iris", "wine", "breast_cancer"]
    scale: Bool = Field(True, description="standardize features")


# TensorFlow Playground's input features, a closed list of maps of the plane (x1, x2): the
# spec records them by name (data, never code); `kspec.training.data.FEATURE_MAPS` computes them.
FEATURE_NAMES = ("x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2")
FeatureName = Literal["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"]
# Classification sets (labels 0/1) and regression sets (a float target in [-1, 1]).
SYNTHETIC_CLASSIFICATION = ("circles", "xor", "gaussian", "spiral", "moons")
SYNTHETIC_REGRESSION = ("plane", "multi_gaussian")


def _plane_features() -> list[FeatureName]:
    return ["x1", "x2"]


MAX_SYNTHETIC_SAMPLES = 1_000_000


class SyntheticData(Strict):
    """A TensorFlow-Playground-style 2D set: classification (0/1) or regression (plane, multi_gaussian)."""

    type: Literal["synthetic"]
    name: Literal["circles", "xor", "gaussian", "spiral", "moons", "plane", "multi_gaussian"]
    samples: PositiveInt = Field(1000, le=MAX_SYNTHETIC_SAMPLES)

    @field_validator("samples")
    @classmethod
    def _bounded(cls, v: int) -> int:
        # PositiveInt's own validator replaces Field's bound: enforce it here (generated in memory).
        if v > MAX_SYNTHETIC_SAMPLES:
            raise ValueError(f"must be at most {MAX_SYNTHETIC_SAMPLES:,} (generated in memory), got {v:,}")
        return v

    noise: Number = 0.1
    seed: Seed = 0
    features: list[FeatureName] = Field(
        default_factory=_plane_features,
        min_length=1,
        description="maps of the plane fed to the model, in order: " + ", ".join(FEATURE_NAMES),
    )


class NpzData(Strict):
    """Arrays from an `.npz` file; path relative to the spec file."""

    type: Literal["npz"]
    path: Str
    x: Str | dict[str, Str] = Field("x", description="array name, or input name -> array name")
    y: Str | dict[str, Str] = Field("y", description="array name, or output name -> array name")


class CsvData(Strict):
    """A CSV table with a header row; path relative to the spec file."""

    type: Literal["csv"]
    path: Str
    label: Str | list[Str] = Field(description="label column(s)")
    features: list[Str] | None = Field(None, description="feature columns (default: all others)")
    delimiter: Str = ","


class KerasData(Strict):
    """A `keras.datasets` set (downloads; fails with a clear message when offline)."""

    type: Literal["keras"]
    name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100", "boston_housing"]
    normalize: Bool = True


DataModel = Annotated[
    SklearnData | SyntheticData | NpzData | CsvData | KerasData, Field(discriminator="type")
]


#: Callback arguments that name a file or folder Keras writes (BackupAndRestore deletes its
#: folder when training ends): they must stay inside the run folder.
CALLBACK_PATH_ARGS = {
    "ModelCheckpoint": "filepath",
    "CSVLogger": "filename",
    "TensorBoard": "log_dir",
    "BackupAndRestore": "backup_dir",
}
MAX_RUN_PATH = 200
MAX_MODEL_NAME = 128


def run_path_problem(value: Any) -> str | None:
    """Why `value` is not a relative path inside the run folder (None: it is one)."""
    if not isinstance(value, str) or not value.strip():
        return f"must be a path inside the run folder, got {value!r}"[:120]
    parts = value.replace("\\", "/").split("/")
    if (
        value.startswith(("/", "~", "\\"))
        or (len(value) > 1 and value[1] == ":")
        or ".." in parts
        or "\x00" in value
        or len(value) > MAX_RUN_PATH
        or any(ord(c) < 32 for c in value)
    ):
        shown = value if len(value) <= 60 else value[:59] + "…"
        return (
            f"must be a relative path inside the run folder (no '..', no absolute path, no '~', "
            f"at most {MAX_RUN_PATH} characters), got {shown!r}"
        )
    return None


def _callback(v: Any) -> Any:
    if isinstance(v, str):
        v = {"type": v}
    if not isinstance(v, dict) or not isinstance(v.get("type"), str):
        raise ValueError(f"must be {{type: CallbackName, ...arguments}}, got {v!r}"[:200])
    if v["type"] in names.UNSAFE_CALLBACKS:
        raise ValueError(f"callback {v['type']!r} runs code or reaches the network and is not allowed")
    if v["type"] not in names.CALLBACKS:
        raise ArgumentError(names.unknown("callback", v["type"], names.CALLBACKS), ("type",))
    arg = CALLBACK_PATH_ARGS.get(v["type"])
    if arg is not None and arg in v:
        problem = run_path_problem(v[arg])
        if problem:
            raise ValueError(f"{v['type']}.{arg}: {problem}")
    # kspec passes BackupAndRestore its folder in the run folder itself.
    check_keras_arguments("callback", v, supplied=("backup_dir",) if v["type"] == "BackupAndRestore" else ())
    return v


CallbackRef = Annotated[
    Any,
    PlainValidator(_callback),
    WithJsonSchema(
        {"type": "object", "required": ["type"], "properties": {"type": {"enum": sorted(names.CALLBACKS)}}}
    ),
]


class TrainModel(Strict):
    """How `kspec train` gets data and fits."""

    data: DataModel
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    validation_split: Rate = 0.0
    test_split: Rate = 0.2
    shuffle: Bool = True
    seed: Seed | None = Field(None, description="data split/shuffle seed (default: the spec's seed)")
    callbacks: list[CallbackRef] = Field(default_factory=list)


class DistributeModel(Strict):
    """`distribute:`: data-parallel training over several processes (JAX) or local devices."""

    strategy: Literal["data_parallel", "mirrored"] = "data_parallel"
    workers: PositiveInt | None = Field(
        None, description="local processes `kspec train` starts (as --workers)"
    )
    timeout: PositiveInt = Field(60, description="seconds to wait for the coordinator and for a silent peer")


class LayerModel(BaseModel):
    """One layer: `type` is a keras.layers class name; other keys are its constructor arguments.

    `{reuse: NAME, inputs: ...}` (no `type`) calls the earlier layer NAME again: a shared layer,
    one set of weights."""

    model_config = ConfigDict(extra="allow")
    type: Str | None = None  # required unless `reuse:` (kspec.schema.validate says so in one line)
    reuse: Name | None = Field(
        None, description="call the earlier layer of this name again (a shared layer: the same weights)"
    )
    name: Name | None = None
    inputs: Ref | list[Ref] | None = None
    call: dict[str, Bool] | None = Field(
        None, description="constant keyword arguments of the call, e.g. {training: false}"
    )


class SpecModel(Strict):
    """A kspec model spec, format version 1."""

    kspec: Literal[1] = Field(1, description="format version")
    name: Name = Field("model", description="the Keras model name")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        # `kspec train` writes to runs/<name> by default: '.'/'..' would put the run (and Keras's
        # backup, which it deletes) into the current or parent folder; long names overflow the
        # file system's 255-byte limit.
        if v in (".", ".."):
            raise ValueError(f"{v!r} is not a model name (the default run folder is runs/<name>)")
        if len(v) > MAX_MODEL_NAME:
            raise ValueError(
                f"must be at most {MAX_MODEL_NAME} characters (it names the run folder), got {len(v)}"
            )
        return v

    description: Str | None = None
    api: Literal["sequential", "functional", "subclass"] = "functional"  # = APIS
    seed: Seed | None = Field(None, description="same seed => same initial weights in every API")
    backend: Literal["tensorflow", "jax", "torch"] | None = Field(
        None, description="Keras backend (default: KERAS_BACKEND, else tensorflow); --backend wins"
    )
    inputs: list[InputModel] = Field(min_length=1)
    layers: list[LayerModel] = Field(min_length=1)
    outputs: Ref | list[Ref] | None = None
    compile: CompileModel | None = None
    train: TrainModel | None = None
    distribute: DistributeModel | None = None
    plugins: list[Str] = Field(
        default_factory=list, description="modules whose custom layers this spec may use (trusted code)"
    )


__all__ = [
    "APIS",
    "SpecModel",
    "InputModel",
    "LayerModel",
    "CompileModel",
    "TrainModel",
    "DistributeModel",
    "Int",
]
