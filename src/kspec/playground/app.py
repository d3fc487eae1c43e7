"""The Playground's web app (Starlette): the page, its assets and a thin JSON API over kspec.

Routes (all JSON unless said):
  GET  /                               the page (HTML); /static/NAME its assets
  GET  /api/initial                    the spec to start with, the limits, the dataset lists
  POST /api/check       {text}         `kspec check` of the editor's text, or its error at line:col
  POST /api/diagram     {text}         the topology diagram as SVG (cached by text)
  POST /api/edit        {text, edit}   a control's change written into the spec text
  POST /api/session/SID/reset {text}   a new training for tab SID (weights initialised, paused)
  POST /api/session/SID/run|pause|step
  GET  /api/session/SID/events         Server-Sent Events: the training's state and frames
  GET  /api/session/SID/state          the state now (epoch, batches, ...), once
  GET  /api/session/SID/model.keras    the model as it is now
  POST /api/session/SID/report         write the run folder; returns the report's URL
  GET  /runs/SID/NAME                  a file of that run folder (report.html, ...)

Requests are bounded (`Limits.max_body`), must be UTF-8 JSON objects, and every name taken
from a URL is checked against a strict pattern before it touches a path. A failure is a 4xx
with `{"error": "..."}`; the server stays up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import secrets
from collections import OrderedDict
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kspec.errors import SpecError, first_line
from kspec.playground import edits
from kspec.playground.policy import Limits, inside_folder, load_spec
from kspec.playground.session import Sessions, TooMany

LOOPBACK_NAMES = ("127.0.0.1", "localhost")
SID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
STATE_DIR = ".kspec-playground"  # everything the server writes, inside its working folder
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _assets() -> dict[str, bytes]:
    """The page's files, read once from the package (nothing is fetched from the network)."""
    folder = resources.files("kspec.playground") / "static"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


class TokenGuard:
    """With a token (a non-loopback --host), every request must carry it, as Jupyter does:
    `?token=` in the printed URL (then remembered in a cookie) or an `X-Kspec-Token` header."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = (
            request.query_params.get("token")
            or request.headers.get("x-kspec-token")
            or request.cookies.get("kspec_token")
            or ""
        )
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            await JSONResponse({"error": "a token is required: open the URL kspec serve printed"}, 403)(
                scope, receive, send
            )
            return

        async def send_with_cookie(message: Any) -> None:
            if message["type"] == "http.response.start" and request.query_params.get("token"):
                cookie = f"kspec_token={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()
                message.setdefault("headers", []).append((b"set-cookie", cookie))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


#: Specs up to this size are checked on the event loop itself (about 1.2 ms per 1,000 characters,
#: so 5 ms at most); larger ones in a worker thread, so that one big spec cannot stall the rest.
INLINE_CHECK_CHARS = 4_000


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object: bounded, UTF-8, or a Refused 4xx."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Refused(413, f"request body too large (the limit is {limit} bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"request body too large (the limit is {limit} bytes)")
    try:
        data = json.loads(bytes(body).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Refused(400, f"the body is not UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise Refused(400, f"the body is not JSON: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def _text(data: dict[str, Any]) -> str:
    text = data.get("text")
    if not isinstance(text, str):
        raise Refused(400, "`text` (the spec, a string) is required")
    return text


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as None: JSON has no such numbers (a spec may write .inf)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def _error_json(exc: SpecError) -> dict[str, Any]:
    from kspec.errors import format_path

    return {
        "message": exc.message,
        "line": exc.line,
        "col": exc.col,
        "path": format_path(exc.path) if exc.path else None,
        "text": str(exc),
    }


class Playground:
    """The app's state: working folder, limits, trainings, diagram cache."""

    def __init__(
        self, workdir: str, initial: str | None = None, limits: Limits | None = None, token: str | None = None
    ) -> None:
        self.workdir = os.path.realpath(workdir)
        self.initial = initial if initial is not None else edits.DEFAULT_SPEC
        self.limits = limits or Limits()
        self.token = token
        self.sessions = Sessions(self.limits)
        self.assets = _assets()
        self._svg: OrderedDict[str, str] = OrderedDict()
        self.closing = False

    # ------------------------------------------------------------------ spec endpoints

    def check(self, text: str) -> dict[str, Any]:
        from kspec.graph.check import CheckReport

        try:
            spec, graph = load_spec(text, self.workdir, self.limits)
        except SpecError as exc:
            return {"ok": False, "error": _error_json(exc)}
        return {
            "ok": True,
            "report": CheckReport(graph).to_dict(),
            "api": spec.api,
            "train": finite(spec.train),
        }

    def diagram(self, text: str) -> dict[str, Any]:
        from kspec.report.diagram import PlotOptions, make_graph
        from kspec.report.diagram_render import render

        key = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
        if key in self._svg:
            self._svg.move_to_end(key)
            return {"ok": True, "svg": self._svg[key]}
        try:
            spec, graph = load_spec(text, self.workdir, self.limits)
        except SpecError as exc:
            return {"ok": False, "error": _error_json(exc)}
        api = spec.api if spec.api != "sequential" or graph.sequential_problem() is None else "functional"
        try:
            svg = render(make_graph(graph, api, PlotOptions(show_shapes=True)), "svg").decode("utf-8")
        except Exception as exc:
            return {"ok": False, "error": {"message": f"the diagram could not be drawn: {first_line(exc)}"}}
        self._svg[key] = svg
        while len(self._svg) > 64:
            self._svg.popitem(last=False)
        return {"ok": True, "svg": svg}

    def edit(self, text: str, edit: Any) -> dict[str, Any]:
        if not isinstance(edit, dict):
            raise Refused(400, "`edit` must be an object with an `op`")
        try:
            return {"ok": True, "text": edits.apply_edit(text, edit)}
        except SpecError as exc:
            return {"ok": False, "error": _error_json(exc)}

    def folder(self, sid: str) -> str:
        path = os.path.join(self.workdir, STATE_DIR, sid)
        inside_folder(os.path.relpath(path, self.workdir), self.workdir)
        return path


def _sid(request: Request) -> str:
    sid = request.path_params["sid"]
    if not SID.match(sid):
        raise Refused(400, "a session id is 8 to 64 letters, digits, - or _")
    return sid


def make_app(pg: Playground) -> Starlette:
    limit = pg.limits.max_body

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except Refused as exc:
                return JSONResponse({"error": str(exc)}, exc.status)
            except SpecError as exc:
                return JSONResponse({"ok": False, "error": str(exc), "spec_error": _error_json(exc)}, 422)

        return endpoint

    async def page(request: Request) -> Response:
        return Response(
            pg.assets["index.html"], media_type=TYPES[".html"], headers={"Content-Security-Policy": CSP}
        )

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in pg.assets:
            raise Refused(404, "no such asset")
        kind = TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
        return Response(pg.assets[name], media_type=kind, headers={"Cache-Control": "no-cache"})

    async def initial(request: Request) -> Response:
        return JSONResponse(
            {
                "text": pg.initial,
                "limits": pg.limits.__dict__,
                "classification": list(edits.CLASSIFICATION_SETS),
                "regression": list(edits.REGRESSION_SETS),
                "sklearn": list(edits.SKLEARN_SETS),
                "activations": list(edits.ACTIVATIONS),
            }
        )

    def answer(result: dict[str, Any]) -> Response:
        # A spec kspec refuses is a 422 that still carries the located error for the editor.
        return JSONResponse(result, 200 if result.get("ok") else 422)

    async def check(request: Request) -> Response:
        text = _text(await read_json(request, limit))
        if len(text) <= INLINE_CHECK_CHARS:
            # A typical spec checks in about a millisecond: a worker thread would cost two GIL
            # hand-offs, each waiting up to 5 ms while the training thread holds the GIL.
            return answer(pg.check(text))
        return answer(await anyio.to_thread.run_sync(pg.check, text))

    async def diagram(request: Request) -> Response:
        text = _text(await read_json(request, limit))
        return answer(await anyio.to_thread.run_sync(pg.diagram, text))

    async def edit(request: Request) -> Response:
        data = await read_json(request, limit)
        return answer(await anyio.to_thread.run_sync(pg.edit, _text(data), data.get("edit")))

    async def reset(request: Request) -> Response:
        sid = _sid(request)
        text = _text(await read_json(request, limit))
        spec, graph = await anyio.to_thread.run_sync(load_spec, text, pg.workdir, pg.limits)
        try:
            pg.sessions.start(sid, spec, graph, text, pg.workdir, pg.folder(sid))
        except TooMany as exc:
            raise Refused(429, str(exc)) from None
        return JSONResponse({"ok": True})

    def trainer_of(request: Request) -> Any:
        trainer = pg.sessions.get(_sid(request))
        if trainer is None:
            raise Refused(404, "no training in this tab yet: reset first")
        return trainer

    async def command(request: Request) -> Response:
        what = request.path_params["what"]
        if what not in ("run", "pause", "step"):
            raise Refused(404, "commands are run, pause and step")
        await read_json(request, limit)
        trainer_of(request).command(what)
        return JSONResponse({"ok": True})

    async def events(request: Request) -> Response:
        trainer = trainer_of(request)
        sid = _sid(request)

        async def stream() -> Any:
            current: Any = None
            sent, frame_sent, epoch_sent, setup_sent = -1, None, -1, None
            while not pg.closing and not await request.is_disconnected():
                t = pg.sessions.get(sid) or trainer
                if t is not current:  # a reset in this tab: start over with the new training
                    current, sent, frame_sent, epoch_sent, setup_sent = t, -1, None, -1, None
                if t.version != sent:
                    snap = t.snapshot()
                    sent = snap["version"]
                    message = {k: v for k, v in snap.items() if k not in ("frame", "history")}
                    if t.setup is not setup_sent:
                        message["setup"] = setup_sent = t.setup
                    if snap["frame"] is not frame_sent:
                        message["frame"] = frame_sent = snap["frame"]
                    if snap["epoch"] != epoch_sent:
                        message["history"] = snap["history"]
                        epoch_sent = snap["epoch"]
                    yield f"data: {json.dumps(message)}\n\n"
                await asyncio.sleep(0.1)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def state(request: Request) -> Response:
        snap = trainer_of(request).snapshot()
        return JSONResponse({k: v for k, v in snap.items() if k not in ("frame", "history")})

    async def model(request: Request) -> Response:
        from kspec.files import save_model

        trainer = trainer_of(request)
        path = os.path.join(pg.folder(_sid(request)), "model.keras")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        future = trainer.submit(lambda t: save_model(t.model, path))
        try:
            await anyio.to_thread.run_sync(future.result, 120)
        except Exception as exc:
            raise Refused(409, f"no model to download: {first_line(exc)}") from None
        name = f"{trainer.spec.name}.keras"
        return FileResponse(path, media_type="application/zip", filename=name)

    async def report(request: Request) -> Response:
        from kspec.playground.runs import write_run

        trainer = trainer_of(request)
        sid = _sid(request)
        run_dir = os.path.join(pg.folder(sid), "run")
        future = trainer.submit(lambda t: write_run(t, run_dir))
        try:
            await anyio.to_thread.run_sync(future.result, 300)
        except Exception as exc:
            raise Refused(409, f"the run could not be written: {first_line(exc)}") from None
        return JSONResponse({"ok": True, "url": f"/runs/{sid}/report.html"})

    async def run_file(request: Request) -> Response:
        sid = _sid(request)
        name = request.path_params["name"]
        if not FILE_NAME.match(name) or ".." in name:
            raise Refused(400, "a file name is letters, digits, ., - or _")
        base = os.path.join(pg.folder(sid), "run")
        try:
            path = inside_folder(name, base)
        except SpecError:
            raise Refused(400, "outside the run folder") from None
        if not os.path.isfile(path):
            raise Refused(404, "no such file in this run")
        return FileResponse(path)

    async def not_found(request: Request) -> Response:
        raise Refused(404, "no such page")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        pg.closing = True
        await anyio.to_thread.run_sync(pg.sessions.close_all)

    routes = [
        Route("/", guarded(page)),
        Route("/static/{name}", guarded(static)),
        Route("/api/initial", guarded(initial)),
        Route("/api/check", guarded(check), methods=["POST"]),
        Route("/api/diagram", guarded(diagram), methods=["POST"]),
        Route("/api/edit", guarded(edit), methods=["POST"]),
        Route("/api/session/{sid}/reset", guarded(reset), methods=["POST"]),
        Route("/api/session/{sid}/events", guarded(events)),
        Route("/api/session/{sid}/state", guarded(state)),
        Route("/api/session/{sid}/model.keras", guarded(model)),
        Route("/api/session/{sid}/report", guarded(report), methods=["POST"]),
        Route("/api/session/{sid}/{what}", guarded(command), methods=["POST"]),
        Route("/runs/{sid}/{name}", guarded(run_file)),
        Route("/{rest:path}", guarded(not_found)),
    ]
    middleware = []
    if pg.token is None:  # loopback: only loopback Host names (no DNS rebinding)
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_NAMES)))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.playground = pg
    return TokenGuard(app, pg.token)  # type: ignore[return-value]
