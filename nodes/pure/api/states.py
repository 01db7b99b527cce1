"""The names of a generation's statuses and of the API's events (pure; standard library only).

The hosted API's names. How a generation moves between them is the status machine in
``status.py``.
"""
from __future__ import annotations

QUEUED, PROCESSING, SUCCEEDED, FAILED, CANCELLED = "queued", "processing", "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, PROCESSING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE = (QUEUED, PROCESSING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)

#: Server-sent event names (``GET /api/events``).
COMPLETED_EVENT = "media_generation_completed"
PROGRESS_EVENT = "media_generation_progress"
