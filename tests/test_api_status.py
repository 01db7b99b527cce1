"""Unit tests of the generation status machine (``nodes/pure/api/status.py``; no ComfyUI needed).

Every transition from plain snapshots of ComfyUI's queue, history and progress registry:
queued -> processing, processing -> succeeded / failed / cancelled, queued -> cancelled
(by the API or by someone else), history lost, restart recovery, progress updates and the
saves they cause, and terminal records never changing again.
"""
from __future__ import annotations

import copy

import pytest

from rv2v.nodes.pure import api, params
from rv2v.nodes.pure.api import status

BODY = {"model": params.MODEL_ID, "prompt": "a fox in the snow", "input_video": "clip.mp4"}
PROMPT = {"1": {"class_type": "RV2V_Settings"}, "20": {"class_type": "SamplerCustomAdvanced"},
          "25": {"class_type": "RV2V_SaveMP4"}}
VIDEO = {"filename": "LTX23_RV2V_00001_.mp4", "subfolder": "", "type": "output"}


def _record(status_name=None, **fields):
    s = api.parse_request(dict(BODY, input_video="data:video/mp4;base64," + "A" * 100))
    rec = api.new_record(api.new_generation_id(), BODY, s, 5, "random", "queue", 4, ["25"])
    if status_name:
        rec["status"] = status_name
    rec.update(fields)
    return rec


def _item(number, rec, prompt=PROMPT):
    """A ComfyUI queue item: (number, prompt_id, prompt, extra_data, outputs_to_execute, sensitive)."""
    return (number, rec["generation_id"], prompt, {}, ["25"], {})


def _entry(status_str, messages, outputs=None):
    return {"status": {"status_str": status_str, "completed": status_str == "success", "messages": messages},
            "outputs": outputs or {}}


def _success(outputs=None):
    return _entry("success", [["execution_start", {}], ["execution_success", {}]],
                  outputs if outputs is not None else {"25": {"images": [dict(VIDEO)], "animated": [True]}})


INTERRUPTED = _entry("error", [["execution_start", {}], ["execution_interrupted",
                                                          {"node_id": "20", "node_type": "SamplerCustomAdvanced"}]])


def _snap(rec, where, entry=None, progress=None):
    """A snapshot with ``rec`` running, pending (behind one other prompt), finished or gone."""
    gid = rec["generation_id"]
    other = (0, "someone-else", {}, {}, [], {})
    running = [_item(1, rec)] if where == "running" else []
    pending = [_item(9, rec), other] if where == "pending" else []
    history = {gid: entry} if entry is not None else {}
    return api.Snapshot.from_queue(running, pending, history, progress)


def _registry(rec, nodes):
    return {"prompt_id": rec["generation_id"], "nodes": nodes}


# ----------------------------------------------------------------------------------------
# transition (moved here with the status rules)
# ----------------------------------------------------------------------------------------

def test_new_record_and_transitions():
    rec = _record()
    assert rec["status"] == "queued" and rec["generation_id"] == rec["prompt_id"]
    assert api.valid_generation_id(rec["generation_id"])
    assert rec["notes"][-1] == "seed: none given; using 5"
    assert api.transition(rec, "processing") and rec["started_at"] and rec["finished_at"] is None
    assert not api.transition(rec, "processing")
    assert api.transition(rec, "succeeded", result={"filename": "a.mp4", "subfolder": "", "type": "output"})
    assert rec["finished_at"] and rec["progress"] == 1.0
    assert not api.transition(rec, "failed", error_message="late")  # terminal is final
    assert rec["status"] == "succeeded"
    with pytest.raises(ValueError):
        api.transition(rec, "done")


# ----------------------------------------------------------------------------------------
# Snapshots
# ----------------------------------------------------------------------------------------

def test_snapshot_from_queue_items():
    a, b, c = _record(), _record(), _record()
    snap = api.Snapshot.from_queue([_item(3, a)], [_item(7, b), _item(5, c)], {"x": {}}, {"prompt_id": None})
    assert dict(snap.running) == {a["generation_id"]: PROMPT}
    assert tuple(snap.pending) == (c["generation_id"], b["generation_id"])  # ComfyUI runs lower numbers first
    assert dict(snap.history) == {"x": {}} and snap.progress == {"prompt_id": None}


# ----------------------------------------------------------------------------------------
# queued
# ----------------------------------------------------------------------------------------

def test_queued_waiting_gets_its_queue_position():
    rec = _record()
    before = copy.deepcopy(rec)
    upd = api.advance(rec, _snap(rec, "pending"))
    assert upd == api.Update()  # nothing to save or send
    assert rec["status"] == "queued" and rec["queue_position"] == 1
    assert api.public_view(rec)["queue_position"] == 1
    assert {k: v for k, v in rec.items() if k != "queue_position"} == before


def test_queued_to_processing():
    rec = _record(queue_position=2)
    upd = api.advance(rec, _snap(rec, "running"))
    assert rec["status"] == "processing" and rec["started_at"] and rec["finished_at"] is None
    assert "queue_position" not in rec
    assert upd.save and upd.events == [api.PROGRESS_EVENT] and not upd.finished
    # the next poll with nothing new changes nothing
    upd = api.advance(rec, _snap(rec, "running"))
    assert upd == api.Update() and rec["status"] == "processing"


def test_queued_to_cancelled_by_the_api():
    rec = _record()
    assert api.begin_cancel(rec) and rec["cancel_requested"] is True
    upd = api.cancel_queued(rec)
    assert rec["status"] == "cancelled" and rec["error_message"] == api.CANCELLED_QUEUED
    assert rec["finished_at"] and upd.finished and upd.save and upd.events == [api.COMPLETED_EVENT]
    assert api.public_view(rec)["error_message"] == "cancelled before it started"
    assert not api.begin_cancel(rec)  # cancelling again: nothing to do, no error
    assert api.cancel_queued(rec) == api.Update()


def test_queued_gone_from_the_queue():
    # cancel asked, the deletion raced with ComfyUI: the next poll finds it gone
    rec = _record(cancel_requested=True)
    upd = api.advance(rec, _snap(rec, "gone"))
    assert rec["status"] == "cancelled" and rec["error_message"] == api.CANCELLED_QUEUED and upd.finished
    # someone else removed it (ComfyUI's queue panel)
    rec = _record(queue_position=0)
    upd = api.advance(rec, _snap(rec, "gone"))
    assert rec["status"] == "cancelled" and rec["error_message"] == api.REMOVED_FROM_QUEUE
    assert "queue_position" not in rec and upd.finished and upd.events == [api.COMPLETED_EVENT]


def test_queued_straight_to_succeeded():
    """A short prompt can start and finish between two polls: the history entry decides."""
    rec = _record()
    upd = api.advance(rec, _snap(rec, "gone", _success()))
    assert rec["status"] == "succeeded" and rec["result"] == VIDEO and rec["progress"] == 1.0
    assert upd.finished


# ----------------------------------------------------------------------------------------
# processing
# ----------------------------------------------------------------------------------------

def test_processing_to_succeeded():
    rec = _record()
    api.advance(rec, _snap(rec, "running"))
    rec["progress_detail"] = {"node": "20"}
    upd = api.advance(rec, _snap(rec, "gone", _success()))
    assert rec["status"] == "succeeded" and rec["result"] == VIDEO and rec["error_message"] is None
    assert rec["progress"] == 1.0 and rec["finished_at"] and "progress_detail" not in rec
    assert upd == api.Update(save=True, events=[api.COMPLETED_EVENT], finished=True)
    view = api.public_view(rec, "http://h:1")
    assert view["result_url"] == "http://h:1/view?filename=LTX23_RV2V_00001_.mp4&subfolder=&type=output"


def test_processing_to_succeeded_even_while_still_listed_as_running():
    """History written, queue not yet updated: the history entry wins."""
    rec = _record("processing")
    api.advance(rec, _snap(rec, "running", _success()))
    assert rec["status"] == "succeeded"


def test_processing_to_failed_with_the_error_from_history():
    rec = _record()
    api.advance(rec, _snap(rec, "running"))
    err = ["execution_error", {"node_id": "7", "node_type": "RV2V_ReferencePlan",
                               "exception_message": "input_video: cannot decode"}]
    upd = api.advance(rec, _snap(rec, "gone", _entry("error", [["execution_start", {}], err])))
    assert rec["status"] == "failed" and upd.finished
    assert rec["error_message"] == "input_video: cannot decode (in RV2V_ReferencePlan, node 7)"
    assert api.public_view(rec)["error_message"] == rec["error_message"]
    assert rec["result"] is None


def test_processing_to_failed_without_an_mp4():
    rec = _record("processing")
    api.advance(rec, _snap(rec, "gone", _success({"9": {"images": [{"filename": "a.png"}]}})))
    assert rec["status"] == "failed" and "MP4" in rec["error_message"]


def test_processing_to_failed_when_the_history_was_removed():
    rec = _record("processing")
    upd = api.advance(rec, _snap(rec, "gone"))
    assert rec["status"] == "failed" and rec["error_message"] == api.HISTORY_REMOVED and upd.finished


def test_processing_to_cancelled_by_the_api():
    rec = _record()
    api.advance(rec, _snap(rec, "running"))
    assert api.begin_cancel(rec)  # the caller interrupts ComfyUI; the history then says interrupted
    assert rec["status"] == "processing"
    upd = api.advance(rec, _snap(rec, "gone", INTERRUPTED))
    assert rec["status"] == "cancelled" and rec["error_message"] == api.CANCELLED_RUNNING and upd.finished


def test_processing_interrupted_in_comfyui():
    rec = _record("processing")
    api.advance(rec, _snap(rec, "gone", INTERRUPTED))
    assert rec["status"] == "cancelled"
    assert rec["error_message"] == ("interrupted in SamplerCustomAdvanced (node 20)"
                                    + api.INTERRUPTED_ELSEWHERE)


def test_cancel_of_a_finished_generation_is_a_409():
    for name in ("succeeded", "failed"):
        rec = _record(name)
        with pytest.raises(api.ApiError) as info:
            api.begin_cancel(rec)
        assert info.value.status == 409 and info.value.field == "generation_id"
        assert name in info.value.detail and not rec["cancel_requested"]


# ----------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------

def test_progress_updates():
    rec = _record()
    nodes = {"1": {"state": "finished", "value": 1, "max": 1},
             "20": {"state": "running", "value": 2, "max": 8}, "25": {"state": "pending"}}
    upd = api.advance(rec, _snap(rec, "running", progress=_registry(rec, nodes)))
    # node_count 4: one finished + 2/8 running = 1.25 / 4
    assert rec["status"] == "processing" and rec["progress"] == 0.3125
    assert upd.events == [api.PROGRESS_EVENT, api.PROGRESS_EVENT]  # started, then progressed
    assert upd.save and upd.saved_progress == 0.3125
    assert rec["progress_detail"] == {"node": "20", "class_type": "SamplerCustomAdvanced", "value": 2, "max": 8}
    view = api.public_view(rec)
    assert view["progress"] == 0.3125 and view["progress_detail"]["node"] == "20"

    # a small step: an event, but no save until PROGRESS_SAVE_STEP more is done
    nodes["20"] = {"state": "running", "value": 3, "max": 8}
    upd = api.advance(rec, _snap(rec, "running", progress=_registry(rec, nodes)), saved_progress=0.3125)
    assert rec["progress"] == 0.3438 and upd.events == [api.PROGRESS_EVENT]  # rounded to 4 places
    assert not upd.save and upd.saved_progress is None
    assert rec["progress_detail"]["value"] == 3

    # a step of at least PROGRESS_SAVE_STEP since the last save: saved
    nodes["20"] = {"state": "running", "value": 4, "max": 8}
    upd = api.advance(rec, _snap(rec, "running", progress=_registry(rec, nodes)), saved_progress=0.3125)
    assert rec["progress"] == 0.375 and upd.save and upd.saved_progress == 0.375
    assert 0.375 - 0.3125 >= api.PROGRESS_SAVE_STEP


def test_progress_never_goes_back_and_ignores_other_prompts():
    rec = _record("processing", progress=0.5)
    nodes = {"20": {"state": "running", "value": 1, "max": 8}}
    upd = api.advance(rec, _snap(rec, "running", progress=_registry(rec, nodes)), saved_progress=0.5)
    assert rec["progress"] == 0.5 and upd.events == [] and not upd.save  # lower fraction: kept
    assert rec["progress_detail"]["value"] == 1  # the running node is still reported
    other = {"prompt_id": "another-prompt", "nodes": {"1": {"state": "finished"}}}
    before = copy.deepcopy(rec)
    assert api.advance(rec, _snap(rec, "running", progress=other), saved_progress=0.5) == api.Update()
    assert rec == before
    assert api.advance(rec, _snap(rec, "running", progress=None), saved_progress=0.5) == api.Update()


def test_progress_tolerates_enum_reprs_and_unknown_nodes():
    rec = _record("processing")
    nodes = {"99": {"state": "NodeState.Running", "value": 1, "max": 2}}
    api.advance(rec, _snap(rec, "running", progress=_registry(rec, nodes)))
    assert rec["progress"] == 0.125
    assert rec["progress_detail"] == {"node": "99", "class_type": None, "value": 1, "max": 2}


# ----------------------------------------------------------------------------------------
# terminal states and restart recovery
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["succeeded", "failed", "cancelled"])
@pytest.mark.parametrize("where", ["running", "pending", "gone", "history"])
def test_terminal_states_never_change(name, where):
    rec = _record(name, error_message=None if name == "succeeded" else "before", finished_at="t0")
    before = copy.deepcopy(rec)
    entry = _entry("error", [["execution_error", {"exception_message": "late"}]]) if where == "history" else None
    progress = _registry(rec, {"1": {"state": "finished"}})
    assert api.advance(rec, _snap(rec, where, entry, progress)) == api.Update()
    assert not api.recover(rec)
    assert rec == before


def test_recover_marks_unfinished_records_failed():
    running, queued, known = _record("processing"), _record("queued"), _record("queued")
    assert api.recover(running) and running["status"] == "failed"
    assert running["error_message"] == api.RESTART_RUNNING and running["finished_at"]
    assert api.recover(queued, known_active=["x"]) and queued["error_message"] == api.RESTART_QUEUED
    assert not api.recover(known, known_active=[known["generation_id"]]) and known["status"] == "queued"
    assert not api.recover(running)  # idempotent


def test_restart_recovery(tmp_path):
    store = api.RecordStore(tmp_path)
    running = _record("processing")
    queued = _record("queued")
    done = _record("succeeded")
    known = _record("queued")
    for rec in (running, queued, done, known):
        store.save(rec)
    changed = store.recover(known_active=[known["generation_id"]])
    assert {r["generation_id"] for r in changed} == {running["generation_id"], queued["generation_id"]}
    # a fresh store (a new process) sees the recovered records on disk
    fresh = {r["generation_id"]: r for r in api.RecordStore(tmp_path).load_all()}
    r = fresh[running["generation_id"]]
    assert r["status"] == "failed" and r["error_message"] == api.RESTART_RUNNING and r["finished_at"]
    assert "restarted while this generation was running" in r["error_message"]
    q = fresh[queued["generation_id"]]
    assert q["status"] == "failed" and q["error_message"] == api.RESTART_QUEUED
    assert fresh[done["generation_id"]]["status"] == "succeeded"
    assert fresh[known["generation_id"]]["status"] == "queued"
    again = api.RecordStore(tmp_path).recover(known_active=[known["generation_id"]])
    assert again == []  # idempotent


def test_package_reexports_the_status_machine():
    assert api.RESTART_RUNNING is status.RESTART_RUNNING and api.advance is status.advance
