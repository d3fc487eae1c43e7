"""`kspec tune SPEC -o DIR`: KerasTuner searches the spec's own search spaces.

>>> result = search("specs/digits_mlp_tune.yaml", "tune/digits", trials=8)  # doctest: +SKIP
>>> result["best"]["values"]  # doctest: +SKIP
{'hidden1.units': 96, 'compile.optimizer.learning_rate': 0.0031}

Each `{tune: ...}` value becomes a KerasTuner hyperparameter of the same name; a trial is the
spec with every space at the trial's values, built, compiled and fitted by kspec's own
pipeline, scored on the validation split (`val_loss` unless `objective` says otherwise).
KerasTuner keeps its project in `DIR/keras_tuner/` with `overwrite=False`, so rerunning the
same command after a crash continues: finished trials are kept, the interrupted one runs
again. With random and bayesian search, trial 0 is the spec's defaults, so the best spec is
never worse than the defaults on the objective.

Distributed (`--workers N`): KerasTuner's own mode, one chief process holding the oracle and N
workers asking it for trials over gRPC (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
`KERASTUNER_ORACLE_PORT`); `kspec.training.tune_launch` starts them on 127.0.0.1.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import keras_tuner

from kspec.graph.resolve import resolve
from kspec.graph.space import spec_at
from kspec.schema.options import BuildOptions
from kspec.schema.space import Space
from kspec.schema.validate import Spec
from kspec.training.run import prepare_data
from kspec.training.tune_results import PROJECT, direction


def declare(hp: keras_tuner.HyperParameters, spaces: list[Space]) -> dict[str, Any]:
    """Register every space with KerasTuner (same arguments); return this trial's values."""
    values: dict[str, Any] = {}
    for s in {s.name: s for s in spaces}.values():
        if s.kind == "int":
            assert s.min is not None and s.max is not None
            values[s.name] = hp.Int(
                s.name,
                int(s.min),
                int(s.max),
                step=int(s.step) if s.step else None,
                sampling=s.sampling,
                default=s.default,
            )
        elif s.kind == "float":
            values[s.name] = hp.Float(
                s.name, s.min, s.max, step=s.step, sampling=s.sampling, default=s.default
            )
        elif s.kind == "choice":
            values[s.name] = hp.Choice(s.name, list(s.values), default=s.default)
        else:
            values[s.name] = hp.Boolean(s.name, default=s.default)
    return values


class SpecHyperModel(keras_tuner.HyperModel):
    """Builds and fits the spec at a trial's values with kspec's builders and data pipeline."""

    def __init__(self, spec: Spec, api: str, build_options: BuildOptions | None = None) -> None:
        super().__init__(name=spec.name)
        assert spec.search is not None
        self.spec = spec
        self.api = api
        self.build_options = build_options
        self.spaces = spec.search.spaces
        self.arrays, self.train_cfg = prepare_data(spec, resolve(spec, build_options))

    def point(self, hp: keras_tuner.HyperParameters) -> Spec:
        return spec_at(self.spec, declare(hp, self.spaces))

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        from kspec.builders import build_model
        from kspec.training.compile import compile_kwargs

        point = self.point(hp)
        graph = resolve(point, self.build_options)
        if point.seed is not None:
            keras.utils.set_random_seed(point.seed)
        model = build_model(graph, self.api)
        model.compile(**compile_kwargs(graph, point.compile))
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        from kspec.schema.model import TrainModel
        from kspec.training import data as D
        from kspec.training.fit import make_callbacks

        point = self.point(hp)
        cfg = TrainModel.model_validate(point.train)
        seed = cfg.seed if cfg.seed is not None else (point.seed or 0)
        train_ds = D.make_dataset(
            self.arrays, self.arrays.train, cfg.batch_size, shuffle=cfg.shuffle, seed=seed
        )
        val_ds = D.make_dataset(self.arrays, self.arrays.val, cfg.batch_size)
        # The spec's own callbacks (EarlyStopping...), not the run folder's backup: KerasTuner
        # reruns an interrupted trial from its start.
        own = [
            c
            for c in make_callbacks(point, os.devnull)
            if not isinstance(c, keras.callbacks.BackupAndRestore)
        ]
        return model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=kwargs.pop("epochs", cfg.epochs),
            initial_epoch=kwargs.pop("initial_epoch", 0),
            callbacks=[*kwargs.pop("callbacks", []), *own],
            shuffle=False,
            verbose=0,
        )


class _DefaultsFirst:
    """Trial 0 runs the spec's defaults: the search can only improve on what the spec says."""

    hyperparameters: keras_tuner.HyperParameters
    trials: dict[str, Any]

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if not self.trials:
            return {"status": "RUNNING", "values": dict(self.hyperparameters.values)}
        return super().populate_space(trial_id)  # type: ignore[misc]


class RandomOracle(_DefaultsFirst, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOracle(_DefaultsFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _NoTensorBoard:
    """kspec hands KerasTuner no TensorBoard callback, and tensorflow-cpu ships without
    tensorboard, which KerasTuner imports unconditionally to configure one."""

    def _configure_tensorboard_dir(self, callbacks: list[Any], trial: Any, execution: int = 0) -> None:
        return None


class Tuner(_NoTensorBoard, keras_tuner.Tuner):
    pass


class Hyperband(_NoTensorBoard, keras_tuner.Hyperband):
    pass


def objective_of(name: str) -> keras_tuner.Objective:
    """`val_loss`, `val_accuracy`, or `NAME:min` / `NAME:max` when the name does not tell."""
    return keras_tuner.Objective(name.partition(":")[0], direction(name))


def make_tuner(
    spec: Spec,
    out_dir: str,
    *,
    tuner: str,
    trials: int,
    objective: str,
    api: str,
    build_options: BuildOptions | None = None,
) -> keras_tuner.Tuner:
    """The KerasTuner tuner for `spec`, its project in `out_dir/keras_tuner` (reloaded when there)."""
    hypermodel = SpecHyperModel(spec, api, build_options)
    goal = objective_of(objective)
    seed = spec.seed if spec.seed is not None else 0
    common: dict[str, Any] = dict(directory=out_dir, project_name=PROJECT, overwrite=False)
    if tuner == "hyperband":
        found = Hyperband(
            hypermodel=hypermodel,
            objective=goal,
            max_epochs=max(2, hypermodel.train_cfg.epochs),
            factor=3,
            hyperband_iterations=1,
            seed=seed,
            **common,
        )
        found.oracle.max_trials = trials  # at most N trials; the brackets may end sooner
        return found
    oracle_class = RandomOracle if tuner == "random" else BayesianOracle
    oracle = oracle_class(objective=goal, max_trials=trials, seed=seed)
    return Tuner(oracle=oracle, hypermodel=hypermodel, **common)


def run_search(spec: Spec, out_dir: str, **kwargs: Any) -> None:
    """Run (or continue) the search in this process: alone, as the chief, or as a worker."""
    found = make_tuner(spec, out_dir, **kwargs)
    found.search(verbose=0)
