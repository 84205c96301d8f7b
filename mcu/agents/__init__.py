"""Thin Faust agents: each moves records between topics and calls one stage's pure function.

Agents register when their module is imported; `register(roles)` imports only the stages this
worker runs (MCU_ROLES) and calls a stage module's `prepare()`, if it has one, to load what the stage
needs before the first record (nothing heavy happens at import).
"""

import importlib

STAGE_MODULES = {
    "normalize": "mcu.agents.normalize",
    "enrich": "mcu.agents.enrich",
    "sla": "mcu.agents.sla",
    "notify": "mcu.agents.notify",
    "sink": "mcu.agents.sink",
}


def register(roles: set[str]) -> list[str]:
    started = []
    for role, module in STAGE_MODULES.items():
        if role in roles:
            prepare = getattr(importlib.import_module(module), "prepare", None)
            if prepare is not None:
                prepare()
            started.append(role)
    return started
