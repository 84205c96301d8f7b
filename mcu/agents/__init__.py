"""Thin Faust agents: each moves records between topics and calls its stages' pure functions.

Agents register when their module is imported; `register(roles)` imports only the stages this
worker runs (MCU_ROLES) and calls a stage module's `prepare()`, if it has one, to load what the stage
needs before the first record (nothing heavy happens at import). Normalising and enriching are one
agent (raw.* → cases, one pass): the roles `normalize` and `enrich` both mean it, and it reports both stages.
"""

import importlib

STAGE_MODULES = {
    "normalize": "mcu.agents.enrich",
    "enrich": "mcu.agents.enrich",
    "sla": "mcu.agents.sla",
    "notify": "mcu.agents.notify",
    "sink": "mcu.agents.sink",
}


def register(roles: set[str]) -> list[str]:
    """Import the agents of these roles; returns the stages they report (metric and dead-letter labels)."""
    started: list[str] = []
    for role, module in STAGE_MODULES.items():
        if role in roles:
            stage_module = importlib.import_module(module)
            prepare = getattr(stage_module, "prepare", None)
            if prepare is not None:
                prepare()
            stages = getattr(stage_module, "STAGES", (role,))
            started += [s for s in stages if s not in started]
    return started
