"""The ClickHouse store: connection, versioned migrations, row mapping and the batch writer."""
