"""Write an imported spec as YAML (default) or JSON: stable key order, short lists on one line."""

from __future__ import annotations

import json
from typing import Any

import yaml


class _SpecDumper(yaml.SafeDumper):
    pass


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    # [3, 3] and [[0, 1], [0, 1]] on one line; lists of mappings (layers) as blocks
    flow = all(not isinstance(x, dict) for x in data) and len(json.dumps(data)) <= 100
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    simple = all(
        not isinstance(v, (dict, list)) or (isinstance(v, list) and not any(isinstance(x, dict) for x in v))
        for v in data.values()
    )
    flow = simple and len(json.dumps(data)) <= 100 and "type" in data and len(data) <= 6
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_SpecDumper.add_representer(list, _represent_list)
_SpecDumper.add_representer(dict, _represent_dict)


def spec_text(spec: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(spec, indent=2) + "\n"
    return yaml.dump(spec, Dumper=_SpecDumper, sort_keys=False, width=110, allow_unicode=False)
