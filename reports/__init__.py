"""Analytics of the МЦУ: ratings, workload and breakdowns read from ClickHouse aggregates."""
