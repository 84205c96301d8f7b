"""Raw letter record → NormalizedMessage fields (format: ingest.connectors.formats.LETTER)."""

from ingest.connectors.formats import LETTER
from ingest.normalize.tabular import table_mapper

fields = table_mapper(LETTER)
