"""The hosted preset's HTTP API on ComfyUI's own server (no second process).

Routes: every row of the route table ``api.ROUTES`` (``nodes/pure/api/endpoints.py``:
method, path, the :class:`GenerationService` method that answers it), added to
``PromptServer.instance.routes`` when the pack loads, before ComfyUI builds its router;
none of them is a core path, see :func:`core_clashes`.

Each generation is the shipped API workflow with the Settings node's inputs set from
the request, queued exactly like ``POST /prompt`` does it (on-prompt handlers, node
replacements, ``execution.validate_prompt``, ``prompt_queue.put``) but in-process, so
there is no loopback HTTP call, no dependency on the listen address/TLS, and the
validation errors come back as Python objects. The generation id is the prompt id.

Status comes from ComfyUI's own queue and history (polled every 0.25 s while anything is
active, under the queue's lock) and progress from ComfyUI's progress registry; this module
reads them into a plain snapshot and the pure status machine (``nodes/pure/api/status.py``)
decides; nothing in core is patched. Records are JSON files under ``<user dir>/rv2v/generations``.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time

import execution
import folder_paths
from aiohttp import web
from server import PromptServer

from ..pure.log import log
from ..pure import api, media, params, sources
from . import common
from .settings import AVAILABLE_CONTROL_TYPES, probe_field

POLL_S = 0.25
KEEPALIVE_S = 15.0
CANCEL_WAIT_S = 30.0
EVENT_BACKLOG = 1000
API_HEADER = "X-RV2V-API"


def _log(level: int, message: str) -> None:
    log.log(level, "[RV2V API] %s", message)


def records_dir() -> str:
    return os.path.join(folder_paths.get_user_directory(), "rv2v", "generations")


def api_key_file() -> str:
    return os.path.join(folder_paths.get_user_directory(), api.API_KEY_FILE)


def base_url(request: web.Request) -> str:
    """The server address as the client sees it (honours X-Forwarded-Proto/-Host from a proxy)."""
    proto = (request.headers.get("X-Forwarded-Proto") or request.scheme).split(",")[0].strip()
    host = (request.headers.get("X-Forwarded-Host") or request.host).split(",")[0].strip()
    return f"{proto}://{host}"


def _json(data, status: int = 200, headers: dict | None = None) -> web.Response:
    h = {API_HEADER: "1"}
    h.update(headers or {})
    return web.json_response(data, status=status, headers=h)


def _error(err: api.ApiError) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return _json(err.body(), err.status, headers)


def _handler(fn):
    """ApiError -> its JSON answer; anything unexpected -> 500 with the message (logged)."""

    @functools.wraps(fn)
    async def wrapper(self, request):
        try:
            return await fn(self, request)
        except api.ApiError as err:
            return _error(err)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception as exc:  # noqa: BLE001 - the client gets the message, the log the traceback
            log.exception("[RV2V API] %s %s failed", request.method, request.path)
            return _json({"detail": f"internal error: {type(exc).__name__}: {exc}"}, 500)

    return wrapper


def core_clashes(server) -> list[str]:
    """Routes of ours that a route already known to ComfyUI's server would shadow.

    Core registers every route of ``server.routes`` twice (``/x`` and ``/api/x``) and a few
    directly on the app; both are checked.
    """
    taken = set()
    for route in server.routes:
        method, path = getattr(route, "method", None), getattr(route, "path", None)
        if method and path:
            taken.add((method, path))
            taken.add((method, "/api" + path))
    try:
        for route in server.app.router.routes():
            info = route.resource.canonical if route.resource is not None else None
            if info:
                taken.add((route.method, info))
    except Exception:  # noqa: BLE001 - best effort
        pass
    return [f"{r.method} {r.path}" for r in api.ROUTES if (r.method, r.path) in taken or ("*", r.path) in taken]


class GenerationService:
    """Generations: validation, queueing, status bookkeeping, events, records."""

    def __init__(self, server):
        self.server = server
        self.store = api.RecordStore(records_dir())
        for rec in self.store.recover():
            _log(logging.WARNING, f"generation {rec['generation_id']} marked failed: {rec['error_message']}")
        self.records: dict[str, dict] = {r["generation_id"]: r for r in self.store.load_all()}
        self.waiters: dict[str, list[asyncio.Future]] = {}
        self.subscribers: set[asyncio.Queue] = set()
        self.backlog: list[tuple[int, str, str]] = []
        self.seq = 0
        self.watcher: asyncio.Task | None = None
        self.saved_progress: dict[str, float] = {}

    # -- registration ----------------------------------------------------------------------
    def add_routes(self, routes) -> None:
        """Every row of the route table, on an aiohttp ``RouteTableDef``."""
        for route in api.ROUTES:
            routes.route(route.method, route.path)(getattr(self, route.handler))

    # -- helpers ---------------------------------------------------------------------------
    def _auth(self, request: web.Request) -> None:
        try:
            key = api.load_api_key(os.environ, api_key_file())
        except api.AuthConfigError as exc:
            raise api.ApiError(500, f"server configuration: {exc}") from None
        api.check_authorization(request.headers.get("Authorization"), key)

    def _record(self, request: web.Request) -> dict:
        gid = request.match_info.get("generation_id", "")
        record = self.records.get(gid)
        if record is None:
            raise api.ApiError(404, f"generation_id: no generation {gid!r} on this server", "generation_id")
        return record

    def _save(self, record: dict) -> None:
        try:
            self.store.save(record)
        except OSError as exc:
            _log(logging.ERROR, f"cannot write the record of {record['generation_id']}: {exc}")

    def _publish(self, event: str, gid: str) -> None:
        self.seq += 1
        item = (self.seq, event, gid)
        self.backlog.append(item)
        if len(self.backlog) > EVENT_BACKLOG:
            del self.backlog[: len(self.backlog) - EVENT_BACKLOG]
        for q in list(self.subscribers):
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:
                pass

    def _apply(self, record: dict, update: api.Update) -> None:
        """Do what a step of the status machine asks: save, send events, wake the waiters."""
        gid = record["generation_id"]
        if update.finished:
            self.saved_progress.pop(gid, None)
        elif update.saved_progress is not None:
            self.saved_progress[gid] = update.saved_progress
        if update.save:
            self._save(record)
        for event in update.events:
            self._publish(event, gid)
        if update.finished:
            for fut in self.waiters.pop(gid, []):
                if not fut.done():
                    fut.set_result(record)
            _log(logging.INFO, f"generation {gid} {record['status']}"
                 + (f": {record['error_message']}" if record.get("error_message") else ""))

    def _ensure_watcher(self) -> None:
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.ensure_future(self._watch())

    # -- creating generations --------------------------------------------------------------
    def _check_media(self, settings: params.Settings) -> None:
        """Resolve (download) and decode-check every media field now, so bad media is a 4xx.
        The Settings node later resolves the same values from the same cache."""
        for p in api.media_fields():
            value = getattr(settings, p.name)
            if not value:
                continue
            try:
                probe_field(p.name, common.resolve_media(value, p.name), p.media)
            except sources.SourceError as exc:
                raise api.ApiError(400, str(exc), p.name) from None
            except media.MediaError as exc:
                text = str(exc)
                raise api.ApiError(400, text if text.startswith(p.name) else f"{p.name}: {text}", p.name) from None

    async def _validated_item(self, gid: str, prompt: dict) -> tuple:
        """The queue item for a prompt, validated the way ``POST /prompt`` validates."""
        json_data = self.server.trigger_on_prompt({"prompt": prompt, "extra_data": {}})
        prompt = json_data.get("prompt", prompt)
        replacer = getattr(self.server, "node_replace_manager", None)
        if replacer is not None:
            replacer.apply_replacements(prompt)
        valid = await execution.validate_prompt(gid, prompt, None)
        if not valid[0]:
            field, message = api.node_error_message(valid[3], prompt)
            if not valid[3]:
                err = valid[1] or {}
                message = f"{err.get('message', 'invalid workflow')}: {err.get('details', '')}".rstrip(": ")
            if field is not None:
                raise api.ApiError(400, message, field)
            raise api.ApiError(500, f"ComfyUI rejected the workflow: {message}")
        extra_data = dict(json_data.get("extra_data") or {})
        extra_data["rv2v_generation_id"] = gid
        sensitive = {k: extra_data.pop(k) for k in execution.SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        extra_data["create_time"] = int(time.time() * 1000)
        number = self.server.number
        self.server.number += 1
        return (number, gid, prompt, extra_data, valid[2], sensitive)

    async def _create(self, request: web.Request, mode: str) -> dict:
        self._auth(request)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = getattr(request, "client_max_size", None) or "?"
            raise api.ApiError(413, f"request: the body is larger than this server accepts ({limit} bytes, "
                                    "ComfyUI's --max-upload-size); put large media in ComfyUI's input folder "
                                    "or give an http(s) URL instead of a data: URI", "request") from None
        body = api.parse_json_body(raw)
        settings = api.parse_request(body, available_control_types=AVAILABLE_CONTROL_TYPES)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._check_media, settings)
        seed, seed_source = api.choose_seed(settings)
        prompt = api.build_prompt(api.load_workflow(), settings, seed)
        gid = api.new_generation_id()
        item = await self._validated_item(gid, prompt)
        record = api.new_record(gid, body, settings, seed, seed_source, mode, len(prompt),
                                api.find_nodes(prompt, api.SAVE_CLASS))
        self.store.save(record)  # before queueing: a record exists for everything that can run
        self.records[gid] = record
        self.server.prompt_queue.put(item)
        _log(logging.INFO, f"generation {gid} queued ({mode}, seed {seed})")
        self._ensure_watcher()
        return record

    # -- handlers --------------------------------------------------------------------------
    @_handler
    async def generate(self, request: web.Request) -> web.Response:
        record = await self._create(request, "sync")
        fut = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(record["generation_id"], []).append(fut)
        try:
            record = await fut
        finally:
            waiting = self.waiters.get(record["generation_id"], [])
            if fut in waiting:
                waiting.remove(fut)
        view = api.public_view(record, base_url(request))
        if record["status"] == api.SUCCEEDED:
            return _json(view)
        view["detail"] = view.get("error_message") or record["status"]
        return _json(view, 409 if record["status"] == api.CANCELLED else 500)

    @_handler
    async def enqueue(self, request: web.Request) -> web.Response:
        record = await self._create(request, "queue")
        view = api.public_view(record, base_url(request))
        return _json({"generations": [{"generation_id": record["generation_id"], "status": record["status"]}],
                      "generation_id": record["generation_id"], **{k: view[k] for k in ("status", "seed", "notes")}})

    @_handler
    async def list_generations(self, request: web.Request) -> web.Response:
        self._auth(request)
        status = request.query.get("status")
        if status is not None and status not in api.STATUSES:
            raise api.ApiError(400, f"status: must be one of {', '.join(api.STATUSES)}", "status")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise api.ApiError(400, "limit: must be an integer", "limit") from None
        records = sorted(self.records.values(), key=lambda r: str(r.get("created_at") or ""), reverse=True)
        base = base_url(request)
        views = [api.public_view(r, base) for r in records if status is None or r["status"] == status]
        return _json({"generations": views[: max(0, limit)]})

    @_handler
    async def status(self, request: web.Request) -> web.Response:
        self._auth(request)
        return _json(api.public_view(self._record(request), base_url(request)))

    @_handler
    async def cancel(self, request: web.Request) -> web.Response:
        self._auth(request)
        record = self._record(request)
        gid = record["generation_id"]
        if not api.begin_cancel(record):  # already cancelled
            return _json(api.public_view(record, base_url(request)))
        queue = self.server.prompt_queue
        if queue.delete_queue_item(lambda item: item[1] == gid):
            self._apply(record, api.cancel_queued(record))
            return _json(api.public_view(record, base_url(request)))
        self._save(record)
        interrupt = getattr(queue, "interrupt_if_running", None)
        if interrupt is not None:
            interrupt(gid)
        else:  # older cores: interrupt only if this prompt is the running one
            running, _ = queue.get_current_queue_volatile()
            if any(item[1] == gid for item in running):
                import comfy.model_management

                comfy.model_management.interrupt_current_processing()
        self._ensure_watcher()
        fut = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(gid, []).append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), CANCEL_WAIT_S)
        except asyncio.TimeoutError:
            pass
        finally:
            waiting = self.waiters.get(gid, [])
            if fut in waiting:
                waiting.remove(fut)
        view = api.public_view(record, base_url(request))
        view["cancel_requested"] = True
        return _json(view, 200 if record["status"] in api.TERMINAL else 202)

    @_handler
    async def list_models(self, request: web.Request) -> web.Response:
        self._auth(request)
        return _json({"models": [api.model_object()]})

    @_handler
    async def model(self, request: web.Request) -> web.Response:
        self._auth(request)
        model_id = request.match_info.get("model_id", "")
        api.check_model(model_id)
        return _json(api.model_object())

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events. ``?generation_id=a,b`` limits the stream to those generations,
        sends the ones already finished at once and ends when all have finished;
        ``?progress=1`` adds ``media_generation_progress`` events; ``Last-Event-ID``
        replays what was missed (last 1000 events)."""
        try:
            self._auth(request)
            wanted: set[str] = set()
            for value in request.query.getall("generation_id", []):
                wanted.update(v.strip() for v in value.split(",") if v.strip())
            unknown = sorted(g for g in wanted if g not in self.records)
            if unknown:
                raise api.ApiError(404, f"generation_id: no generation {unknown[0]!r} on this server",
                                   "generation_id")
            last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
            try:
                last_id = int(last) if last else None
            except ValueError:
                raise api.ApiError(400, "Last-Event-ID: must be an event id from this stream", "Last-Event-ID") from None
        except api.ApiError as err:
            return _error(err)
        progress = request.query.get("progress", "").lower() in ("1", "true", "yes")
        base = base_url(request)
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no", API_HEADER: "1",
        })
        queue: asyncio.Queue = asyncio.Queue(maxsize=EVENT_BACKLOG)
        self.subscribers.add(queue)
        try:
            await resp.prepare(request)
            await resp.write(b"retry: 3000\n\n" + api.sse_comment("connected"))
            done: set[str] = set()
            first: list[tuple[int | None, str, str]] = []
            if last_id is not None:
                first += [item for item in self.backlog if item[0] > last_id]
            for gid in sorted(wanted):
                if self.records[gid]["status"] in api.TERMINAL:
                    first.append((None, api.COMPLETED_EVENT, gid))
            for item in first:
                await self._send_event(resp, item, wanted, progress, done, base)
            while not (wanted and wanted <= done):
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    await resp.write(api.sse_comment("keep-alive"))
                    continue
                await self._send_event(resp, item, wanted, progress, done, base)
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.subscribers.discard(queue)
        return resp

    async def _send_event(self, resp, item, wanted, progress, done, base) -> None:
        seq, event, gid = item
        if (wanted and gid not in wanted) or (event == api.PROGRESS_EVENT and not progress):
            return
        if event == api.COMPLETED_EVENT:
            if gid in done:
                return
            done.add(gid)
        record = self.records.get(gid)
        if record is None:
            return
        await resp.write(api.sse_event(event, api.public_view(record, base), seq))

    # -- watching ComfyUI's queue ----------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            try:
                active = self._tick()
            except Exception:  # noqa: BLE001 - keep watching; the next tick retries
                log.exception("[RV2V API] status update failed")
                active = True
            if not active:
                return
            await asyncio.sleep(POLL_S)

    def _progress_state(self) -> dict | None:
        """ComfyUI's progress registry as plain data (None when it cannot be read)."""
        try:
            from comfy_execution.progress import get_progress_state

            registry = get_progress_state()
            nodes = {}
            for nid, st in list(registry.nodes.items()):
                state = getattr(st.get("state"), "value", st.get("state"))
                nodes[nid] = {"state": state, "value": st.get("value", 0), "max": st.get("max", 1)}
            return {"prompt_id": registry.prompt_id, "nodes": nodes}
        except (RuntimeError, ImportError, AttributeError):
            return None

    def _tick(self) -> bool:
        """One status update of every active generation. Returns True while any is active."""
        active = [r for r in self.records.values() if r["status"] in api.ACTIVE]
        if not active:
            return False
        queue = self.server.prompt_queue
        running, pending = queue.get_current_queue_volatile()
        history = {}
        for record in active:
            gid = record["generation_id"]
            entry = queue.get_history(prompt_id=gid).get(gid)
            if entry is not None:
                history[gid] = entry
        snapshot = api.Snapshot.from_queue(running, pending, history, self._progress_state())
        for record in active:
            gid = record["generation_id"]
            self._apply(record, api.advance(record, snapshot, self.saved_progress.get(gid, 0.0)))
        return any(r["status"] in api.ACTIVE for r in self.records.values())


_SERVICE: GenerationService | None = None


def register(server=None) -> GenerationService | None:
    """Add the API routes to ComfyUI's server (once). Never raises: a failure is logged and
    the nodes keep working without the API."""
    global _SERVICE
    if _SERVICE is not None:
        return _SERVICE
    try:
        server = server or getattr(PromptServer, "instance", None)
        if server is None or not hasattr(server, "routes"):
            return None
        clashes = core_clashes(server)
        if clashes:
            _log(logging.ERROR, "not adding the API: these routes already exist: " + ", ".join(clashes))
            return None
        service = GenerationService(server)
        service.add_routes(server.routes)
        _SERVICE = service
        _log(logging.INFO, f"hosted-compatible API for {params.MODEL_ID} at /api/ai/... "
             f"({len(service.records)} generation records in {records_dir()})")
        return service
    except Exception:  # noqa: BLE001
        log.exception("[RV2V API] could not register the HTTP API")
        return None
