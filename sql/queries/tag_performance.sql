-- name: tag_performance
-- title: Tag performance
-- description: Per tag (given by hand or by rules), the posts published in the period with their latest engagement: posts, total, average and median engagement per post, engagement per view; with period, one row per tag and day, week (from Monday) or month in the workspace's time zone. Without since: the last N days of the posts there are.
-- param: days int = 30              | without since: the last N days up to the latest post
-- param: since date = NULL          | first day
-- param: until date = NULL          | last day, inclusive (default: the latest post's day)
-- param: period text = NULL         | day, week or month (NULL: the whole period in one row per tag)
-- param: platform text = NULL       | only this platform
-- param: workspace text = NULL      | only posts of this workspace (name or id)
WITH checked AS (
  SELECT CASE WHEN $period IS NULL OR $period IN ('day', 'week', 'month') THEN CAST($period AS VARCHAR)
              ELSE error('period must be day, week or month, not ' || $period) END AS period,
         coalesce((SELECT timezone FROM workspaces WHERE name = $workspace OR id = $workspace), 'UTC') AS tz
), latest AS (
  SELECT post_id, arg_max(engagement, downloaded_at) AS engagement, arg_max(views, downloaded_at) AS views
  FROM snapshots GROUP BY post_id
), scoped AS (
  SELECT d.post_id, CAST(timezone(checked.tz, d.posted_at) AS DATE) AS local_day, checked.period
  FROM post_dim d, checked
  WHERE d.posted_at IS NOT NULL AND ($platform IS NULL OR d.platform = $platform)
    AND ($workspace IS NULL OR d.workspace_name = $workspace OR d.workspace_id = $workspace)
), bounds AS (
  SELECT coalesce(CAST($since AS DATE), max(local_day) - CAST($days AS INTEGER) + 1) AS d0,
         coalesce(CAST($until AS DATE), max(local_day)) AS d1
  FROM scoped
)
SELECT t.name AS tag,
       CAST(CASE WHEN s.period IS NOT NULL THEN date_trunc(s.period, s.local_day) END AS DATE) AS period_start,
       count(*) AS posts, CAST(sum(l.engagement) AS BIGINT) AS engagement,
       round(avg(l.engagement), 1) AS avg_engagement, median(l.engagement) AS median_engagement,
       sum(l.engagement) FILTER (WHERE l.views > 0) / nullif(sum(l.views) FILTER (WHERE l.views > 0), 0) AS engagement_per_view
FROM post_tags pt JOIN tags t ON t.id = pt.tag_id JOIN scoped s ON s.post_id = pt.post_id
JOIN latest l ON l.post_id = pt.post_id, bounds b
WHERE s.local_day BETWEEN b.d0 AND b.d1
GROUP BY ALL
ORDER BY period_start NULLS FIRST, avg_engagement DESC NULLS LAST, tag
