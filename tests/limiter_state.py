"""Save and restore flask-limiter's process-wide state around apps that tests build beside the suite's own.

flask-limiter is one object per process: the last `init_app` wins the storage and the enabled flag, and each
create_app registers its routes' limits again under the same endpoint names. The suite's app, the browser stack and
the fuzz stack each put back what they found.
"""
from __future__ import annotations

import copy


def _copied(attributes: dict) -> dict:
    return {k: (copy.copy(v) if isinstance(v, (dict, list, set)) else v) for k, v in attributes.items()}


def snapshot(limiter) -> dict:
    return {"limiter": _copied(vars(limiter)), "manager": _copied(vars(limiter.limit_manager))}


def restore(limiter, state: dict, *, storage: bool = True) -> None:
    """Put `state` back; storage=False keeps the current storage and flags and restores only the route limits."""
    targets = [(limiter.limit_manager, "manager")] + ([(limiter, "limiter")] if storage else [])
    for obj, key in targets:
        vars(obj).clear()
        vars(obj).update(_copied(state[key]))
