"""`model.compile` arguments from the spec's `compile:` section.

Optimizers, losses and metrics are a Keras name or `{type: ClassName, ...arguments}`; an
optimizer's `learning_rate` may itself be a schedule, `{type: ExponentialDecay, ...}`. For
multi-output models `loss`, `metrics` and `loss_weights` may be mappings keyed by output name.
"""

from __future__ import annotations

from typing import Any

from kspec.builders.objects import keras_config, keras_object
from kspec.graph.resolve import Graph

OUTPUT_CHECKS = ("losses_match_outputs", "metrics_match_outputs", "loss_weights_match_outputs")


def optimizer(value: Any) -> Any:
    import keras

    if isinstance(value, str):
        return keras.optimizers.get(value)
    value = dict(value)
    lr = value.get("learning_rate")
    if isinstance(lr, dict):
        value["learning_rate"] = keras.optimizers.schedules.deserialize(keras_config(lr))
    cls = getattr(keras.optimizers, value["type"], None) or type(keras.optimizers.get(value["type"].lower()))
    return cls(**{k: keras_config(v) for k, v in value.items() if k != "type"})


def _object(module: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return keras_object(module, value)
    return value  # a name: Keras resolves it (and names the metric after it)


def _per_output(value: Any, convert: Any) -> Any:
    """A mapping output name -> value (its keys checked by `kspec.graph.checks`), or one value."""
    if isinstance(value, dict) and "type" not in value:
        return {k: convert(v) for k, v in value.items()}
    return convert(value)


def loss_by_output(graph: Graph, compile_cfg: dict[str, Any]) -> dict[str, Any]:
    """The loss (name or mapping) that applies to each output."""
    loss = compile_cfg.get("loss")
    outputs = list(graph.outputs)
    if isinstance(loss, dict) and "type" not in loss:
        return {o: loss.get(o) for o in outputs}
    if isinstance(loss, list) and len(outputs) > 1:
        return dict(zip(outputs, loss))
    return {o: loss for o in outputs}


def _guarded(graph: Graph, path: tuple[Any, ...], make: Any) -> Any:
    """Keras's own complaint about an argument, as a located spec error."""
    from kspec.errors import SpecError, first_line

    try:
        return make()
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        line = first_line(exc)
        raise graph.spec.error(path, line) from None


def compile_kwargs(graph: Graph, compile_cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for `model.compile`; spec errors point into `compile:`.

    The cross-field rules (a loss to train with, one loss or weight per output, mappings keyed
    by output names) are `kspec.graph.checks`, run here again for API callers who never checked.
    """
    import keras

    from kspec.graph.checks import NEEDS_LOSS, run_checks

    run_checks(graph, only=("loss_for_training", *OUTPUT_CHECKS))
    cfg = dict(compile_cfg or {})
    if cfg.get("loss") is None:  # the spec has no `train:` (compare fits without one)
        raise graph.spec.error(("compile",) if compile_cfg else (), NEEDS_LOSS)
    outputs = list(graph.outputs)
    loss = cfg["loss"]
    if isinstance(loss, list):
        loss = dict(zip(outputs, loss)) if len(outputs) > 1 else loss[0]
    kwargs: dict[str, Any] = {
        "optimizer": _guarded(
            graph, ("compile", "optimizer"), lambda: optimizer(cfg.get("optimizer", "adam"))
        ),
        "loss": _guarded(
            graph,
            ("compile", "loss"),
            lambda: _per_output(loss, lambda v: _object(keras.losses, v)),
        ),
    }
    metrics = cfg.get("metrics")
    if metrics is not None:

        def metric_list(v: Any) -> Any:
            items = v if isinstance(v, list) else [v]
            return [_object(keras.metrics, m) for m in items if m is not None]

        if isinstance(metrics, dict) and "type" not in metrics:
            kwargs["metrics"] = _guarded(
                graph,
                ("compile", "metrics"),
                lambda: _per_output(metrics, metric_list),
            )
        elif len(outputs) > 1:  # the same metrics for every output
            kwargs["metrics"] = _guarded(
                graph, ("compile", "metrics"), lambda: {o: metric_list(metrics) for o in outputs}
            )
        else:
            kwargs["metrics"] = _guarded(graph, ("compile", "metrics"), lambda: metric_list(metrics))
    weights = cfg.get("loss_weights")
    if weights is not None:
        if isinstance(weights, list):
            weights = dict(zip(outputs, weights)) if len(outputs) > 1 else weights
        else:
            weights = _per_output(weights, float)
        kwargs["loss_weights"] = weights
    for key in ("jit_compile", "steps_per_execution", "run_eagerly"):
        if key in cfg:
            kwargs[key] = cfg[key]
    return kwargs
