"""The flat spec of `kspec expand`: blocks and repeats written out as plain layers.

    >>> import kspec
    >>> spec = kspec.loads('''
    ... blocks: {mlp: {params: {units: int}, layers: [{type: Dense, name: d, units: "${units}"}]}}
    ... inputs: [{name: x, shape: [4]}]
    ... layers: [{block: mlp, repeat: 2, name: "m${index}", units: "${8 // (index + 1)}"}]
    ... ''')
    >>> print(to_yaml(flat_data(spec)), end="")
    inputs:
    - {name: x, shape: [4]}
    layers:
    - {type: Dense, name: m0_d, units: 8}
    - {type: Dense, name: m1_d, units: 4}
    outputs: m1_d

The flat spec loads and builds to the identical model (same layer names, wiring, arguments,
hence the same seeded weights).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from kspec.schema.validate import Spec


def flat_data(spec: Spec) -> dict[str, Any]:
    """The spec's tree with every block use expanded (a spec without blocks: as written)."""
    return spec.document.data


class _Dumper(yaml.SafeDumper):
    pass


def _flow_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    # short lists of scalars (shapes, kernel sizes) read best inline
    flow = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _flow_list)


def _entry(value: Any) -> str:
    return yaml.dump(
        value, Dumper=yaml.SafeDumper, default_flow_style=True, sort_keys=False, width=1 << 30
    ).strip()


def to_yaml(data: dict[str, Any]) -> str:
    """YAML with one line per layer and per input (what a person would write)."""
    out = []
    for key, value in data.items():
        if key in ("layers", "inputs") and isinstance(value, list):
            out.append(f"{key}:")
            out += [f"- {_entry(v)}" for v in value]
        else:
            out.append(yaml.dump({key: value}, Dumper=_Dumper, sort_keys=False, width=100).rstrip())
    return "\n".join(out) + "\n"


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"
