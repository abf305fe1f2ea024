-- name: top_posts
-- title: Top posts per platform and period
-- description: Posts published in the period, ranked per platform by their latest engagement.
-- param: platform text = NULL       | only this platform
-- param: since date = NULL          | first day (default: 29 days before the latest post)
-- param: until date = NULL          | last day, inclusive (default: the latest post's day)
-- param: limit int = 10             | posts per platform
-- param: workspace text = NULL      | only posts of this workspace (name or id)
WITH scoped AS (
  SELECT * FROM post_dim d
  WHERE ($platform IS NULL OR d.platform = $platform)
    AND ($workspace IS NULL OR d.workspace_name = $workspace OR d.workspace_id = $workspace)
), period AS (
  SELECT coalesce(CAST($since AS DATE), CAST(max(posted_at) AS DATE) - 29) AS d0,
         coalesce(CAST($until AS DATE), CAST(max(posted_at) AS DATE)) + 1 AS d1
  FROM scoped
), latest AS (
  SELECT post_id, arg_max(engagement, downloaded_at) AS engagement, arg_max(views, downloaded_at) AS views,
         max(downloaded_at) AS last_snapshot, count(*) AS snapshots
  FROM snapshots GROUP BY post_id
), ranked AS (
  SELECT d.platform, d.post_id, d.author_username, d.posted_at, d.text_preview, l.engagement, l.views,
         l.engagement / nullif(l.views, 0) AS engagement_per_view, l.snapshots, l.last_snapshot,
         row_number() OVER (PARTITION BY d.platform ORDER BY l.engagement DESC NULLS LAST, d.post_id) AS rank
  FROM scoped d JOIN latest l USING (post_id), period
  WHERE d.posted_at >= period.d0 AND d.posted_at < period.d1
)
SELECT * FROM ranked WHERE rank <= $limit ORDER BY platform, rank
