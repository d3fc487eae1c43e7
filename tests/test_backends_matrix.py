"""Every spec in specs/ on TensorFlow, JAX and PyTorch: one process per backend (Keras keeps one
backend per process). For every spec x backend x valid API the test checks, against kspec check
and against the TensorFlow build: parameter counts and output shapes per layer, predictions from
the same initial weights (<= 1e-5), one epoch of training with shuffling off (loss within 1e-4
relative), a diagram, and on torch that the model is a `torch.nn.Module` whose trainable
`named_parameters()` count equals check's."""

from __future__ import annotations

import os

import numpy as np
import pytest

import kspec
from conftest import ROOT, SPECS, spec_params
from kspec.backend import installed
from kspec.report.backends import SPARSE_NOTE

# About 2 CPU-minutes in all (three processes, one per backend); a loaded machine needs longer.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("backends_matrix"), pytest.mark.timeout(2400)]
BACKENDS = [b for b in ("tensorflow", "jax", "torch") if installed(b)]


@pytest.fixture(scope="session")
def matrix(request, tmp_path_factory):
    from kspec.report.backends import compare_backends_many

    # Only the specs whose tests were selected: ResNet50 and MobileNetV2 on three backends and three
    # APIs are `heavy` (make test-all); building them in make test took most of its time.
    wanted = {
        item.callspec.params["path"].name
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_spec_on_backend_matches_check_and_tensorflow"
    }
    paths = [p for p in SPECS if p.name in wanted]
    folder = str(tmp_path_factory.mktemp("backends"))
    specs = [kspec.load(p) for p in paths]
    results = compare_backends_many(specs, apis="all", plot=True, time_fit=False, steps=2, folder=folder)
    return {path.name: result for path, result in zip(paths, results)}


def _predictions(folder: str, backend: str, api: str) -> list[np.ndarray]:
    with np.load(os.path.join(folder, f"{backend}_{api}.npz")) as f:
        return [f[k] for k in f.files]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", spec_params())
def test_spec_on_backend_matches_check_and_tensorflow(path, backend, matrix):
    result = matrix[path.name]
    row = result.backends[backend]
    assert row["available"], row.get("reason")
    spec = kspec.load(path)
    report = kspec.check(spec).to_dict()
    graph = kspec.resolve(spec)
    valid = [
        a
        for a in ("sequential", "functional", "subclass")
        if a != "sequential" or graph.sequential_problem() is None
    ]
    raw = row["raw"]["apis"]
    assert sorted(raw) == sorted(valid)
    reference = result.reference
    for api, facts in raw.items():
        assert facts["total_params"] == report["total_params"], api
        assert facts["trainable_params"] == report["trainable_params"], api
        by_name = {r["name"]: r for r in facts["layers"]}
        for layer in report["layers"]:
            built = by_name[layer["name"]]
            assert built["type"] == layer["type"]
            assert built["params"] == layer["params"], (api, layer["name"])
            if api != "subclass" and layer["output_shape"] is not None:
                assert built["output_shape"] == layer["output_shape"], (api, layer["name"])
        # predictions from the same weights: computed here from the saved arrays
        want = _predictions(result_folder(result), reference, api)
        got = _predictions(result_folder(result), backend, api)
        assert [a.shape for a in got] == [a.shape for a in want]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=f"{backend} {api}")
        if "fit" in facts:  # one diagram per spec and backend, of the API that trains
            with open(facts["diagram"], "rb") as fh:
                assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        if backend == "torch":
            torch_facts = facts["torch"]
            assert torch_facts["is_torch_module"]
            assert torch_facts["named_parameters_trainable"] == report["trainable_params"]
    fit = next(r["fit"] for r in raw.values() if "fit" in r)
    if SPARSE_NOTE in result.notes:
        # Keras's TensorFlow optimizers treat an Embedding's sparse gradient differently (the note;
        # test_sparse_difference_is_the_optimizers below): JAX and torch are held to each other.
        if backend == "tensorflow":
            assert np.isfinite(fit["loss"])
            return
        reference = "torch" if backend == "jax" else "jax"
    ref_fit = next(r["fit"] for r in result.backends[reference]["raw"]["apis"].values() if "fit" in r)
    assert np.isfinite(fit["loss"])
    assert abs(fit["loss"] - ref_fit["loss"]) <= 1e-4 * abs(ref_fit["loss"]), (fit, ref_fit)


def result_folder(result) -> str:
    assert result.folder is not None
    return result.folder


def test_sparse_difference_is_the_optimizers(tmp_path):
    """The transformer's TensorFlow-only training difference is Adam's on sparse gradients: with SGD
    the same spec trains to the same loss on all three backends (and gets no note)."""
    from kspec.report.backends import compare_backends_many

    text = (ROOT / "specs" / "transformer_classifier.yaml").read_text()
    sgd = text.replace(
        "optimizer: {type: Adam, learning_rate: 0.003}", "optimizer: {type: SGD, learning_rate: 0.05}"
    )
    assert sgd != text
    (tmp_path / "sgd.yaml").write_text(sgd)
    (result,) = compare_backends_many([kspec.load(tmp_path / "sgd.yaml")], time_fit=False, steps=2)
    assert SPARSE_NOTE not in result.notes
    report = result.to_dict()
    assert report["agree"], (report["outputs_max_abs_diff"], report["fit_loss_max_rel_diff"])


def test_every_spec_ran_on_every_installed_backend(matrix):
    """The matrix is whole: no spec silently missing a backend (torch and jax come with .[dev])."""
    assert {"tensorflow", "jax", "torch"} <= set(BACKENDS), "make install installs kspec[jax,torch]"
    for name, result in matrix.items():
        assert set(result.backends) == {"tensorflow", "jax", "torch"}, name
        if SPARSE_NOTE in result.notes:  # TensorFlow's training differs (the note); predictions agree
            assert result.to_dict()["outputs_max_abs_diff"] <= 1e-5, name
            continue
        assert result.to_dict()["agree"], (name, result.to_dict()["outputs_max_abs_diff"])
