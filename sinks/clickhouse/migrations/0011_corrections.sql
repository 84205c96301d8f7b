-- Operators' corrections (issue 17): one row per `reclassified` case event, with what the case was
-- routed to before and after, who corrected it and why, and the model version that made the
-- original decision (cases.model_version: the enricher writes "rules-v<taxonomy>+<model version>"
-- there since 0001; this file adds no column to cases). These rows are the МЦУ's own labels: the
-- training data of `mcu classify train --with-corrections` and the quality figures below.
-- No personal data: the case's text, author and address stay in `cases`.
-- Keyed by (message_id, event_id): a re-delivered event folds into its row (read with FINAL).
-- Written by the sink after the event is stored (mcu/corrections.py); partitioned by the time
-- clamped as in 0009, so one insert never spans more than 27 months.
CREATE TABLE IF NOT EXISTS corrections
(
    event_id String,
    message_id String,
    corrected_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    actor String,
    reason String,
    model_version LowCardinality(String),
    case_created_at DateTime64(3, 'UTC'),
    channel LowCardinality(String),
    confidence Float32,
    needs_review UInt8,
    old_category LowCardinality(String),
    new_category LowCardinality(String),
    old_block UInt8,
    new_block UInt8,
    old_department LowCardinality(String),
    new_department LowCardinality(String),
    old_settlement LowCardinality(String),
    new_settlement LowCardinality(String),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(least(greatest(corrected_at, inserted_at - INTERVAL 24 MONTH), inserted_at + INTERVAL 1 MONTH))
ORDER BY (message_id, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The correction rate of each block: of the cases created in the last 7 days, the share corrected
-- since, and the same over the 4 weeks before as the baseline. A case counts in the block the model
-- chose (its first correction's old_block, else its current block): the block whose routing was
-- wrong, and the same denominator before and after a correction. The worker exports these as
-- mcu_correction_rate{block,window} (mcu/corrections.py); MCUCorrectionRateDoubled compares them.
CREATE VIEW IF NOT EXISTS correction_rates AS
WITH
    now64(3) AS t,
    t - INTERVAL 7 DAY AS week_start,
    week_start - INTERVAL 28 DAY AS base_start
SELECT
    model_block AS block,
    countIf(created_at >= week_start AND corrected) AS corrections_7d,
    countIf(created_at >= week_start) AS cases_7d,
    if(cases_7d > 0, corrections_7d / cases_7d, 0) AS rate_7d,
    countIf(created_at < week_start AND corrected) AS corrections_baseline,
    countIf(created_at < week_start) AS cases_baseline,
    if(cases_baseline > 0, corrections_baseline / cases_baseline, 0) AS rate_baseline
FROM
(
    SELECT c.created_at AS created_at, k.message_id != '' AS corrected,
           if(corrected, k.first_block, c.block) AS model_block
    FROM cases AS c FINAL
    LEFT JOIN
    (
        SELECT message_id, argMin(old_block, corrected_at) AS first_block
        FROM corrections FINAL
        GROUP BY message_id
    ) AS k ON c.message_id = k.message_id
    WHERE c.created_at >= base_start AND c.created_at < t
)
GROUP BY block
ORDER BY block;
