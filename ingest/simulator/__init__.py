"""Synthetic traffic of the district for the demo and the benches (``mcu simulate``).

Everything it makes is synthetic and says so: every payload carries ``"synthetic": true`` (the
normaliser keeps it in ``extra.synthetic``) and the e-mail/ids use reserved example domains.
"""

from ingest.simulator.traffic import SimConfig, SimRecord, simulate

__all__ = ["SimConfig", "SimRecord", "simulate"]
