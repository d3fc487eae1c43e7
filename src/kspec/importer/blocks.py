"""`kspec import --blocks`: repeated sub-graphs of an imported spec written as `blocks:`.

Keras's applications name the layers of each repeated unit with one prefix
(`conv2_block1_1_conv`, `conv2_block1_1_bn`, ... `conv2_block2_1_conv`, ...), which is also how a
kspec block instance names its layers (`<instance>_<layer>`). So: for each depth of name
prefix (`conv2`, `conv2_block1`, ...), the runs of consecutive entries that share a prefix are
candidate instances; runs with the same structure (local names, types, argument keys, wiring
inside the run, one input, only the last entry read from outside) are instances of one block,
and the argument values that differ between them become the block's parameters. The depth
that puts the most layers into blocks wins.

The result is only used when it is exact: the block spec is expanded by kspec itself and must
give the very graph of the flat spec (every name, type, argument and wiring); otherwise the flat
spec is kept (`find_blocks` returns None).
"""

from __future__ import annotations

from typing import Any

from kspec.graph.resolve import resolve
from kspec.schema.io import from_dict

#: Runs shorter than this, or blocks used fewer times, are not worth a definition.
MIN_LAYERS = 2
MIN_USES = 2


def find_blocks(spec: dict[str, Any]) -> dict[str, Any] | None:
    """`spec` (a flat imported spec) with its repeated units as blocks, or None if none is
    found or the rewrite would not expand to exactly the same graph."""
    layers = spec["layers"]
    names = _resolved_names(spec)
    first_input = spec["inputs"][0]["name"] if len(spec["inputs"]) == 1 else None
    best: tuple[int, list[tuple[str, int, int]]] = (0, [])
    depth = 1
    while depth <= 6:
        groups = _groups(layers, names, depth)
        usable = _repeated(layers, names, groups, first_input)
        covered = sum(end - start for _, start, end in usable)
        if covered > best[0]:
            best = (covered, usable)
        depth += 1
    if not best[1]:
        return None
    candidate = _rewrite(spec, names, best[1])
    return candidate if _same_graph(spec, candidate) else None


def _resolved_names(spec: dict[str, Any]) -> list[str]:
    return [node.name for node in resolve(from_dict(spec)).nodes]


def _groups(layers: list[dict[str, Any]], names: list[str], depth: int) -> list[tuple[str, int, int]]:
    """Maximal runs [start, end) of consecutive named entries whose names share `depth` prefix
    segments (and have more after them)."""
    out = []
    i = 0
    while i < len(layers):
        parts = names[i].split("_")
        if "name" not in layers[i] or len(parts) <= depth:
            i += 1
            continue
        prefix = "_".join(parts[:depth])
        j = i
        while j < len(layers) and "name" in layers[j] and names[j].startswith(prefix + "_"):
            j += 1
        if j - i >= MIN_LAYERS:
            out.append((prefix, i, j))
        i = max(j, i + 1)
    return out


def _sources(
    layers: list[dict[str, Any]], names: list[str], index: int, first_input: str | None
) -> list[str]:
    inputs = layers[index].get("inputs")
    if inputs is None:
        return [names[index - 1]] if index > 0 else [first_input or ""]
    return [inputs] if isinstance(inputs, str) else list(inputs)


def _signature(
    layers: list[dict[str, Any]], names: list[str], group: tuple[str, int, int], first_input: str | None
) -> tuple[Any, ...] | None:
    """The structure of a run, or None when it cannot be one block instance."""
    prefix, start, end = group
    inside = {names[k]: names[k][len(prefix) + 1 :] for k in range(start, end)}
    external: list[str] = []
    rows = []
    for k in range(start, end):
        entry = layers[k]
        if "reuse" in entry or "type" not in entry:
            return None
        wiring: list[tuple[str, Any]] = []
        for src in _sources(layers, names, k, first_input):
            base = src.partition(":")[0]
            if base in inside:
                wiring.append(("local", src.replace(base, inside[base], 1)))
            else:
                if ":" in src:
                    return None
                if src not in external:
                    external.append(src)
                wiring.append(("input", external.index(src)))
        args = tuple(
            sorted((key, _kind(value)) for key, value in entry.items() if key not in ("name", "inputs"))
        )
        rows.append((inside[names[k]], entry["type"], args, tuple(wiring)))
    if len(external) != 1:
        return None
    return tuple(rows)


def _kind(value: Any) -> Any:
    """What must be equal for two values to share a parameter slot: dicts must be identical."""
    if isinstance(value, dict):
        return ("dict", repr(sorted(value.items())))
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return ("other", repr(value))


def _read_outside(
    layers: list[dict[str, Any]],
    names: list[str],
    spec: dict[str, Any],
    group: tuple[str, int, int],
    first_input: str | None,
) -> set[str]:
    prefix, start, end = group
    inside = set(names[start:end])
    read: set[str] = set()
    for k in range(len(layers)):
        if start <= k < end:
            continue
        for src in _sources(layers, names, k, first_input):
            if src.partition(":")[0] in inside:
                read.add(src)
    outputs = spec.get("outputs")
    for out in [outputs] if isinstance(outputs, str) else outputs or [names[-1]]:
        if out.partition(":")[0] in inside:
            read.add(out)
    return read


def _repeated(
    layers: list[dict[str, Any]],
    names: list[str],
    groups: list[tuple[str, int, int]],
    first_input: str | None,
) -> list[tuple[str, int, int]]:
    by_signature: dict[Any, list[tuple[str, int, int]]] = {}
    for group in groups:
        sig = _signature(layers, names, group, first_input)
        if sig is None:
            continue
        by_signature.setdefault(sig, []).append(group)
    out = []
    for members in by_signature.values():
        if len(members) >= MIN_USES:
            out.extend(members)
    return sorted(out, key=lambda g: g[1])


def _rewrite(spec: dict[str, Any], names: list[str], groups: list[tuple[str, int, int]]) -> dict[str, Any]:
    layers = spec["layers"]
    first_input = spec["inputs"][0]["name"] if len(spec["inputs"]) == 1 else None
    keep = []
    for group in groups:
        read = _read_outside(layers, names, spec, group, first_input)
        if read <= {names[group[2] - 1]}:  # only the last entry leaves the block
            keep.append(group)
    signatures: dict[Any, list[tuple[str, int, int]]] = {}
    for group in keep:
        signatures.setdefault(_signature(layers, names, group, first_input), []).append(group)
    definitions: dict[str, Any] = {}
    uses: dict[int, tuple[int, dict[str, Any]]] = {}  # start -> (end, use entry)
    renamed: dict[str, str] = {}  # the last flat name of an instance -> the instance name
    ordered_members = sorted(signatures.values(), key=lambda members: members[0][1])
    for number, members in enumerate(ordered_members):
        if len(members) < MIN_USES:
            continue
        block = f"block{number + 1}"
        definition, arguments = _definition(layers, names, members, first_input)
        definitions[block] = definition
        for (prefix, start, end), args in zip(members, arguments):
            external = _external(layers, names, (prefix, start, end), first_input)
            use: dict[str, Any] = {"block": block, "name": prefix}
            if start == 0 or external != names[start - 1]:
                use["inputs"] = external
            use.update(args)
            uses[start] = (end, use)
            renamed[names[end - 1]] = prefix
    out_layers = []
    k = 0
    while k < len(layers):
        if k in uses:
            end, use = uses[k]
            if "inputs" in use:
                use["inputs"] = renamed.get(use["inputs"], use["inputs"])
            out_layers.append(use)
            k = end
            continue
        entry = dict(layers[k])
        if "inputs" in entry:
            srcs = [entry["inputs"]] if isinstance(entry["inputs"], str) else entry["inputs"]
            srcs = [renamed.get(s, s) for s in srcs]
            entry["inputs"] = srcs[0] if isinstance(entry["inputs"], str) else srcs
        out_layers.append(entry)
        k += 1
    result = {key: value for key, value in spec.items() if key != "layers"}
    outputs = result.get("outputs")
    if outputs is not None:
        result["outputs"] = (
            renamed.get(outputs, outputs)
            if isinstance(outputs, str)
            else [renamed.get(o, o) for o in outputs]
        )
    ordered: dict[str, Any] = {}
    for key in ("kspec", "name", "description", "api", "seed"):
        if key in result:
            ordered[key] = result.pop(key)
    ordered["blocks"] = definitions
    ordered.update(result)
    ordered["layers"] = out_layers
    if "outputs" in result:
        ordered["outputs"] = ordered.pop("outputs")
    return ordered


def _external(
    layers: list[dict[str, Any]], names: list[str], group: tuple[str, int, int], first_input: str | None
) -> str:
    prefix, start, end = group
    inside = set(names[start:end])
    for k in range(start, end):
        for src in _sources(layers, names, k, first_input):
            if src.partition(":")[0] not in inside:
                return src
    raise AssertionError("a block instance reads no input")


def _definition(
    layers: list[dict[str, Any]],
    names: list[str],
    members: list[tuple[str, int, int]],
    first_input: str | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The block's definition (values that differ between the members become parameters) and
    each member's arguments."""
    prefix0, start0, end0 = members[0]
    varying = [
        key
        for offset in range(end0 - start0)
        for key, value in layers[start0 + offset].items()
        if key not in ("type", "name", "inputs")
        and any(layers[start + offset][key] != value for _, start, _ in members)
    ]
    params: dict[str, str] = {}
    arguments: list[dict[str, Any]] = [{} for _ in members]
    body = []
    for offset in range(end0 - start0):
        first = layers[start0 + offset]
        local = names[start0 + offset][len(prefix0) + 1 :]
        entry: dict[str, Any] = {"type": first["type"], "name": local}
        srcs = _sources(layers, names, start0 + offset, first_input)
        inside = {names[k]: names[k][len(prefix0) + 1 :] for k in range(start0, end0)}
        wired = []
        for src in srcs:
            base = src.partition(":")[0]
            wired.append(src.replace(base, inside[base], 1) if base in inside else "x")
        previous = "x" if offset == 0 else names[start0 + offset - 1][len(prefix0) + 1 :]
        if wired != [previous]:
            entry["inputs"] = wired[0] if len(wired) == 1 else wired
        for key, value in first.items():
            if key in ("type", "name", "inputs"):
                continue
            values = [layers[start + offset][key] for _, start, _ in members]
            if all(v == value for v in values):
                entry[key] = value
                continue
            param = key if varying.count(key) == 1 else f"{_identifier(local)}_{key}"
            params[param] = _kind(value) if isinstance(_kind(value), str) else "list"
            entry[key] = "${" + param + "}"
            for i, v in enumerate(values):
                arguments[i][param] = v
        body.append(entry)
    definition: dict[str, Any] = {}
    if params:
        definition["params"] = params
    definition["layers"] = body
    return definition, arguments


def _identifier(local: str) -> str:
    text = "".join(c if c.isalnum() else "_" for c in local)
    return text if text[:1].isalpha() else f"l{text}"


def _same_graph(flat: dict[str, Any], blocked: dict[str, Any]) -> bool:
    try:
        a, b = resolve(from_dict(flat)), resolve(from_dict(blocked))
    except Exception:  # a rewrite kspec cannot read back is no rewrite
        return False

    def rows(graph: Any) -> list[Any]:
        return [(n.name, n.type, n.spec.args, n.sources, n.spec.call, n.spec.reuse) for n in graph.nodes]

    return rows(a) == rows(b) and a.outputs == b.outputs
