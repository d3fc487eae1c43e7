"""`kspec init`: every template checks, builds with each API check offers, and trains one epoch."""

from __future__ import annotations

import pytest

import kspec
from kspec.cli import main
from kspec.cli.templates import TEMPLATES


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_a_template_checks_builds_and_trains_as_written(template, tmp_path, capsys, keras):
    import numpy as np

    from kspec.training.run import train

    out = tmp_path / f"{template}.yaml"
    assert main(["init", "--template", template, "-o", str(out)]) == 0
    text = out.read_text()
    assert text.count("#") >= 5, "a commented spec"
    assert main(["check", str(out)]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    report = kspec.check(kspec.load(out))
    apis = ["functional", "subclass"] + (["sequential"] if report.graph.sequential_problem() is None else [])
    spec = kspec.load(out)
    for api in apis:
        model = kspec.build(spec, api=api)
        assert model.count_params() == report.total_params, api
    result = train(spec, str(tmp_path / "run"), epochs=1, quiet=True)
    assert result.history["epoch"] == [1]
    assert np.isfinite(result.metrics["loss"])


def test_init_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "m.yaml"
    out.write_text("mine\n")
    assert main(["init", "-o", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "mine\n"
    assert main(["init", "-o", str(out), "--force"]) == 0
    assert kspec.check(kspec.load(out)).total_params > 0
