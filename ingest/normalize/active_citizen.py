"""Raw active_citizen record → NormalizedMessage fields (format: ingest.connectors.formats.ACTIVE_CITIZEN)."""

from ingest.connectors.formats import ACTIVE_CITIZEN
from ingest.normalize.tabular import table_mapper

fields = table_mapper(ACTIVE_CITIZEN)
