"""The hosted-compatible HTTP API, minus the web server (pure; standard library only).

Everything here is plain data in, plain data out, so it is unit-tested without
ComfyUI; ``nodes/glue/routes.py`` wires it to ComfyUI's aiohttp server and
``nodes/cli.py`` reuses it on the client side. One module per concern:

* ``errors``: :class:`ApiError`, the HTTP error answer;
* ``request``: request parsing and validation (:func:`parse_request`: the model id, then
  the parameter table's own ``params.validate``, then the ``control_type`` availability);
* ``prompt``: the ComfyUI API prompt (:func:`build_prompt`: the shipped API workflow with
  the Settings node's inputs set from the validated request, so the API and the UI run
  one graph), the model files it loads, ComfyUI's ``node_errors``;
* ``endpoints``: the route table (:data:`ROUTES`) and the model object (:func:`model_object`)
  with the JSON request schema generated from the parameter table;
* ``history``: ComfyUI's history entries (:func:`interpret_history`) and progress
  (:func:`progress_fraction`);
* ``states`` and ``status``: the status names and the status machine (:func:`advance`,
  :func:`recover`, cancelling);
* ``records``: the generation records and their store (:class:`RecordStore`);
* ``sse``: server-sent events formatting (:func:`sse_event`);
* ``auth``: the optional API key (:func:`load_api_key`, :func:`check_authorization`).

The names below are this package's public interface: ``from rv2v.nodes.pure import api;
api.parse_request(...)``.
"""
from __future__ import annotations

from ..params import choose_seed  # noqa: F401 - the seed rule lives with the parameter table
from .auth import API_KEY_ENV, API_KEY_FILE, AuthConfigError, check_authorization, load_api_key  # noqa: F401
from .endpoints import MODEL_NAME, ROUTES, Route, model_object  # noqa: F401
from .errors import ApiError  # noqa: F401
from .history import find_video, interpret_history, node_state, progress_fraction, view_path  # noqa: F401
from .prompt import (MODEL_INPUTS, MODEL_SOURCES, OPTIONAL_MODEL_INPUTS, PACK_ROOT, SAVE_CLASS,  # noqa: F401
                     SETTINGS_CLASS, WORKFLOW_PATH, build_prompt, find_nodes, load_workflow, model_source,
                     node_error_message, required_models, check_models, settings_inputs, settings_node_id)
from .records import (RECORD_VERSION, RecordStore, creation_stamp, new_generation_id, new_record,  # noqa: F401
                      public_view, valid_generation_id)
from .request import (MAX_INT_DIGITS, check_model, media_fields, parse_json_body, parse_request,  # noqa: F401
                      summarize_request, summarize_value)
from .sse import parse_sse, sse_comment, sse_event  # noqa: F401
from .states import (ACTIVE, CANCELLED, COMPLETED_EVENT, FAILED, PROCESSING, PROGRESS_EVENT,  # noqa: F401
                     QUEUED, STATUSES, SUCCEEDED, TERMINAL)
from .status import (CANCELLED_QUEUED, CANCELLED_RUNNING, HISTORY_REMOVED, INTERRUPTED_ELSEWHERE,  # noqa: F401
                     PROGRESS_SAVE_STEP, REMOVED_FROM_QUEUE, RESTART_QUEUED, RESTART_RUNNING, Snapshot, Update,
                     advance, begin_cancel, cancel_queued, recover, transition, utc_now)
