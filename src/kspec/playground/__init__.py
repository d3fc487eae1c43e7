"""`kspec serve`: the Playground, a local web app over kspec (TensorFlow Playground's pictures and
controls for any spec, offline, with the spec and the trained model to take away).

It sits beside `cli` at the top of the pipeline: a thin face over the other stages. `app` holds
the routes, `session` the training threads, `frames` the pictures, `edits` the controls' changes
to the spec text, `policy` what a spec from a browser may ask for.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
from typing import Any

from kspec.playground.policy import Limits

__all__ = ["serve", "Limits", "is_loopback", "announce"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only to them (localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def announce(host: str, port: int, token: str | None) -> list[str]:
    """What `kspec serve` prints: a warning for a non-loopback host, then the URL (with the token)."""
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    lines = []
    if token:
        lines.append(
            f"kspec serve: WARNING: listening on {host}, which is not loopback: anyone who can reach it "
            "and has the token in this URL can train models on this machine"
        )
    lines.append(f"kspec serve: the Playground is at {url}  (Ctrl+C stops it)")
    return lines


def serve(
    spec_text: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    workdir: str | None = None,
    limits: Limits | None = None,
    token: str | None = None,
    ready: Any = None,
) -> None:
    """Run the Playground until interrupted (or until `server.should_exit`).

    A non-loopback `host` requires a token (made here unless given), printed in the URL.
    `ready(url, server)` is called once the server listens (tests use it to stop it); port 0
    picks a free port.
    """
    import uvicorn

    from kspec.playground.app import Playground, make_app

    if is_loopback(host):
        token = None
    elif token is None:
        token = secrets.token_urlsafe(24)
    pg = Playground(workdir or os.getcwd(), spec_text, limits, token=token)
    config = uvicorn.Config(
        make_app(pg), host=host, port=port, log_level="warning", timeout_graceful_shutdown=2, lifespan="on"
    )
    server = uvicorn.Server(config)
    if token:
        print(announce(host, port, token)[0], file=sys.stderr, flush=True)
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            line = announce(host, bound, token)[-1]
            print(line, flush=True)
            if ready is not None:
                ready(line.split(" is at ")[1].split("  ")[0], server)

    server.startup = startup  # type: ignore[method-assign]
    server.run()
