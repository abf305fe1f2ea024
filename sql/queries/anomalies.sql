-- name: anomalies
-- title: Anomalies: sudden spikes or drops
-- description: Days on which an entity's new engagement (daily_metrics at the given grain) deviates from its own typical day by a robust z-score 0.6745 (x - median) / MAD above the threshold (MAD floored at 1 so flat series do not explode). Needs at least min_days days. Negative new engagement (counts falling) is always listed.
-- param: grain text = 'profile'     | post, profile, account, workspace, tag or platform
-- param: days int = 30              | look at the last N days
-- param: z float = 3.5              | robust z-score threshold
-- param: min_days int = 5           | entities with fewer days of data are skipped
WITH d AS (
  SELECT metric_date, entity_id, platform, engagement_new
  FROM daily_metrics
  WHERE grain = $grain AND engagement_new IS NOT NULL AND metric_date >= current_date - CAST($days AS INTEGER)
), stats AS (
  SELECT entity_id, median(engagement_new) AS med, count(*) AS n FROM d GROUP BY entity_id HAVING count(*) >= $min_days
), mad AS (
  SELECT d.entity_id, median(abs(d.engagement_new - s.med)) AS mad
  FROM d JOIN stats s USING (entity_id) GROUP BY d.entity_id
), scored AS (
  SELECT d.metric_date, d.entity_id, d.platform, d.engagement_new, s.med AS typical_day,
         0.6745 * (d.engagement_new - s.med) / greatest(m.mad, 1.0) AS robust_z
  FROM d JOIN stats s USING (entity_id) JOIN mad m USING (entity_id)
)
SELECT metric_date, entity_id, platform, round(engagement_new, 2) AS engagement_new, round(typical_day, 2) AS typical_day,
       round(robust_z, 2) AS robust_z,
       CASE WHEN engagement_new < 0 THEN 'drop (counts fell)' WHEN robust_z > 0 THEN 'spike' ELSE 'drop' END AS kind
FROM scored
WHERE abs(robust_z) > $z OR engagement_new < 0
ORDER BY abs(coalesce(robust_z, 1e9)) DESC, metric_date
