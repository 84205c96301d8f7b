"""Raw pos record → NormalizedMessage fields (format: ingest.connectors.formats.POS)."""

from ingest.connectors.formats import POS
from ingest.normalize.tabular import table_mapper

fields = table_mapper(POS)
