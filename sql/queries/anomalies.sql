-- name: anomalies
-- title: Anomalies: sudden spikes or drops
-- description: Events on which an entity's new engagement per day (daily_metrics at the given grain) deviates from its own typical day by a robust z-score 0.6745 (x - median) / MAD above the threshold (MAD floored at 1 so flat series do not explode). An event is a day with a snapshot together with the days without one just before it: a gain spread over a gap between captures is one event, flagged once on the day of the capture (days_spread tells over how many days; its engagement_new is the event's total). Needs at least min_days days. Negative new engagement (counts falling) is always listed.
-- param: grain text = 'profile'     | post, profile, account, workspace, tag or platform
-- param: days int = 30              | look at the last N days
-- param: z float = 3.5              | robust z-score threshold
-- param: min_days int = 5           | entities with fewer days of data are skipped
WITH d AS (
  SELECT metric_date, entity_id, platform, engagement_new, snapshots, is_estimated
  FROM daily_metrics
  WHERE grain = $grain AND engagement_new IS NOT NULL AND metric_date >= current_date - CAST($days AS INTEGER)
), in_event AS (
  -- the day of the next capture at or after each day (the day itself when it has a snapshot)
  SELECT *, coalesce(min(CASE WHEN snapshots > 0 THEN metric_date END)
                       OVER (PARTITION BY entity_id ORDER BY metric_date
                             ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING), metric_date) AS event_date
  FROM d
), events AS (
  SELECT event_date AS metric_date, entity_id, any_value(platform) AS platform,
         sum(engagement_new) AS engagement_new, count(*) AS days_spread,
         sum(engagement_new) / count(*) AS per_day, bool_or(is_estimated) AS is_estimated
  FROM in_event GROUP BY event_date, entity_id
), stats AS (
  SELECT entity_id, median(per_day) AS med FROM events
  GROUP BY entity_id HAVING sum(days_spread) >= $min_days
), mad AS (
  SELECT e.entity_id, median(abs(e.per_day - s.med)) AS mad
  FROM events e JOIN stats s USING (entity_id) GROUP BY e.entity_id
), scored AS (
  SELECT e.*, s.med AS typical_day, 0.6745 * (e.per_day - s.med) / greatest(m.mad, 1.0) AS robust_z
  FROM events e JOIN stats s USING (entity_id) JOIN mad m USING (entity_id)
)
SELECT metric_date, entity_id, platform, round(engagement_new, 2) AS engagement_new, days_spread,
       round(per_day, 2) AS per_day, round(typical_day, 2) AS typical_day, round(robust_z, 2) AS robust_z,
       CASE WHEN engagement_new < 0 THEN 'drop (counts fell)' WHEN robust_z > 0 THEN 'spike' ELSE 'drop' END AS kind,
       is_estimated
FROM scored
WHERE abs(robust_z) > $z OR engagement_new < 0
ORDER BY abs(coalesce(robust_z, 1e9)) DESC, metric_date
