"""Property: a spec with path-like strings in every string field (names, data paths, callback
arguments) never creates, changes or removes a file outside its run folder, whatever `kspec
train` then does with it (refuse it at check time, fail on its data, or train)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kspec.cli import main

PATHS = [
    "..",
    ".",
    "/",
    "~",
    "~/x",
    "../x",
    "../../decoy/spec.yaml",
    "a/../../b",
    "/tmp/kspec-escape",
    "\\..\\x",
    "runs",
    "backup",
    "backup/x",
    "run.json",
    "spec.yaml",
    "model.keras",
    ".kspec.lock",
    "sub/dir/log.csv",
    "log.csv",
    "x" * 300,
    "",
]
path_like = st.one_of(st.sampled_from(PATHS), st.text(alphabet="./~\\ab_-", min_size=1, max_size=12))


def snapshot(root, skip: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {}
    for top, dirs, files in os.walk(root, followlinks=False):
        if skip and os.path.abspath(top).startswith(skip):
            continue
        for name in dirs + files:
            path = os.path.join(top, name)
            if skip and os.path.abspath(path).startswith(skip):
                continue
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    out[rel] = fh.read()
            else:
                out[rel] = "dir"
    return out


def spec_for(name, layer_name, data_path, csv_name, checkpoint) -> dict:
    data = (
        {"type": "csv", "path": data_path, "label": "y"}
        if data_path is not None
        else {"type": "synthetic", "name": "xor", "samples": 32}
    )
    return {
        "name": name,
        "inputs": [{"name": "x", "shape": [2]}],
        "layers": [{"type": "Dense", "name": layer_name, "units": 1, "activation": "sigmoid"}],
        "compile": {"optimizer": "sgd", "loss": "binary_crossentropy"},
        "train": {
            "data": data,
            "epochs": 1,
            "batch_size": 16,
            "test_split": 0.25,
            "callbacks": [
                {"type": "CSVLogger", "filename": csv_name},
                {"type": "ModelCheckpoint", "filepath": checkpoint},
            ],
        },
    }


def check_one(tmp_path, name, layer_name, data_path, csv_name, checkpoint, default_folder) -> None:
    root = tmp_path / "root"
    if root.exists():
        shutil.rmtree(root)
    work = root / "work"
    (root / "decoy").mkdir(parents=True)
    (root / "decoy" / "spec.yaml").write_text("mine\n")
    work.mkdir()
    (work / "data.csv").write_text("a,b,y\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(32)))
    spec = work / "s.json"
    spec.write_text(json.dumps(spec_for(name, layer_name, data_path, csv_name, checkpoint)))
    if default_folder:
        # A name that leaves runs/ (`..`, `a/../..`) must be refused: then nothing is skipped.
        run_dir = os.path.abspath(work / "runs" / name)
        if os.path.dirname(run_dir) != os.path.abspath(work / "runs"):
            run_dir = str(root / "no-run-folder")
    else:
        run_dir = os.path.abspath(work / "out" / "run")
    before = snapshot(root)
    argv = ["train", str(spec), "--quiet"] + ([] if default_folder else ["-o", str(work / "out" / "run")])
    cwd = os.getcwd()
    os.chdir(work)
    try:
        rc = main(argv)
    finally:
        os.chdir(cwd)
    assert rc in (0, 1, 2)
    after = snapshot(root, skip=run_dir)
    # Outside the run folder: only the folders leading to it may appear.
    created = {k for k in after if k not in before}
    parents = {
        os.path.relpath(p, root)
        for p in (os.path.dirname(run_dir), os.path.dirname(os.path.dirname(run_dir)))
    }
    assert created <= parents, created
    assert {k: v for k, v in after.items() if k in before} == before
    assert not os.path.exists("/tmp/kspec-escape")


FIELDS = dict(
    name=st.one_of(st.just("ok"), path_like),
    layer_name=st.one_of(st.just("dense"), path_like),
    data_path=st.one_of(st.none(), st.just("data.csv"), path_like),
    csv_name=st.one_of(st.just("log.csv"), path_like),
    checkpoint=st.one_of(st.just("ckpt.keras"), path_like.map(lambda p: p + ".keras")),
    default_folder=st.booleans(),
)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(**FIELDS)
@example(  # a name that would make runs/<name> the working folder itself (CI found it)
    name="..",
    layer_name="dense",
    data_path=None,
    csv_name="log.csv",
    checkpoint="ckpt.keras",
    default_folder=True,
)
def test_random_path_strings_never_touch_files_outside_the_run_folder(tmp_path, **fields):
    check_one(tmp_path, **fields)


@pytest.mark.heavy
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(**FIELDS)
def test_random_path_strings_many(tmp_path, **fields):
    check_one(tmp_path, **fields)
