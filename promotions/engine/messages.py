"""Commit messages: the pod's message and trace, then trailers (`Promotion-Id`,
`Pod`, `Task-Id`) that the engine reads back to find a promotion's commit."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.text import slugify

from ..models import Promotion

TRAILER_LOOKBACK = 100
MAX_TRACE_IN_COMMIT = 2000
_TRAILER = re.compile(r"^Promotion-Id:\s*(\d+)\s*$", re.MULTILINE)


def commit_message(promotion: Promotion) -> str:
    """The pod's message, then its reasoning trace (cut), then git trailers; the
    trailers are always the last paragraph, so text a pod wrote cannot pose as one."""
    parts = [promotion.commit_message.strip()]
    trace = promotion.reasoning_trace.strip()
    if trace:
        if len(trace) > MAX_TRACE_IN_COMMIT:
            trace = trace[:MAX_TRACE_IN_COMMIT].rstrip() + "\n[… reasoning trace cut; full text in Patchgate]"
        parts.append(trace)
    trailers = [f"Promotion-Id: {promotion.pk}", f"Pod: {_one_line(promotion.pod.name)}"]
    task_id = promotion.metadata.get("task_id") if isinstance(promotion.metadata, dict) else None
    if task_id not in (None, ""):
        trailers.append(f"Task-Id: {_one_line(str(task_id))}")
    parts.append("\n".join(trailers))
    return "\n\n".join(parts) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def promotion_ids_in(message: str) -> set[int]:
    last_paragraph = message.strip().split("\n\n")[-1]
    return {int(match) for match in _TRAILER.findall(last_paragraph)}


def author_of(promotion: Promotion) -> tuple[str, str]:
    pod = promotion.pod
    return pod.name, f"{slugify(pod.name) or 'pod'}@{settings.COMMIT_EMAIL_DOMAIN}"
