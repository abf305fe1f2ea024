-- name: tag_performance
-- title: Tag performance
-- description: Per tag, the posts published in the last N days with their latest engagement: posts, total, average and median engagement per post, engagement per view.
-- param: days int = 30              | posts published in the last N days
-- param: platform text = NULL       | only this platform
WITH latest AS (
  SELECT post_id, arg_max(engagement, downloaded_at) AS engagement, arg_max(views, downloaded_at) AS views
  FROM snapshots GROUP BY post_id
)
SELECT t.name AS tag, count(*) AS posts, sum(l.engagement) AS engagement,
       round(avg(l.engagement), 1) AS avg_engagement, median(l.engagement) AS median_engagement,
       sum(l.engagement) FILTER (WHERE l.views > 0) / nullif(sum(l.views) FILTER (WHERE l.views > 0), 0) AS engagement_per_view
FROM post_tags pt JOIN tags t ON t.id = pt.tag_id JOIN post_dim d ON d.post_id = pt.post_id
JOIN latest l ON l.post_id = pt.post_id
WHERE d.posted_at >= current_date - CAST($days AS INTEGER) AND ($platform IS NULL OR d.platform = $platform)
GROUP BY t.name
ORDER BY avg_engagement DESC NULLS LAST, tag
