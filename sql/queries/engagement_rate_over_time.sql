-- name: engagement_rate_over_time
-- title: Engagement rate over time
-- description: Daily new engagement, new views and engagement rate from daily_metrics (materialize daily_metrics first). grain is one of post, profile, account, workspace, tag, platform.
-- param: grain text = 'platform'    | rollup level
-- param: entity text = NULL         | only this entity id (platform name, tag id, workspace id, ...)
-- param: days int = 30              | how many days back from the latest day computed
SELECT metric_date, grain, entity_id, platform, engagement_new, views_new, engagement_rate,
       posts_tracked, posts_published, is_estimated
FROM daily_metrics
WHERE grain = $grain AND ($entity IS NULL OR entity_id = $entity)
  AND metric_date > (SELECT max(metric_date) FROM daily_metrics WHERE grain = $grain) - CAST($days AS INTEGER)
ORDER BY entity_id, metric_date
