"""Raw incident record → NormalizedMessage fields (format: ingest.connectors.formats.INCIDENT)."""

from ingest.connectors.formats import INCIDENT
from ingest.normalize.tabular import table_mapper

fields = table_mapper(INCIDENT)
