"""Where results leave the pipeline: ClickHouse and the notifiers."""
