"""Raw reception record → NormalizedMessage fields (format: ingest.connectors.formats.RECEPTION)."""

from ingest.connectors.formats import RECEPTION
from ingest.normalize.tabular import table_mapper

fields = table_mapper(RECEPTION)
