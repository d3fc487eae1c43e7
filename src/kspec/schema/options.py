"""What the user, not the spec, decides about a build: trusted plugin modules and the size limit.

A spec is data from anyone; these options come from the person running kspec (`--plugin`,
`--max-params`, or the Python API's `build_options=`). They travel beside the validated spec
in the resolved graph, explicitly, and never change the spec.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuildOptions:
    """Options for building a spec's model.

    Args:
        plugins: modules the user trusts and names (`--plugin MODULE`): only these, or all of a
            spec's `plugins:` with `allow_unsafe`, are imported for custom layers.
        max_params: refuse models with more parameters (None: `$KSPEC_MAX_PARAMS` or 1e9; 0: no limit).
        backend: the Keras backend the user asked for (`--backend`); wins over the spec's
            `backend:` (None: the spec's, else `$KERAS_BACKEND`, else tensorflow).
    """

    plugins: tuple[str, ...] = ()
    max_params: int | None = None
    backend: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "plugins", tuple(self.plugins))


__all__ = ["BuildOptions"]
