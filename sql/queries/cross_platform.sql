-- name: cross_platform
-- title: Cross-platform comparison
-- description: Per platform, for posts published in the last N days: posts, snapshots per post, average and median latest engagement, engagement per view, and the median engagement reached at 24 h (last snapshot at or before it).
-- param: days int = 30              | posts published in the last N days
WITH recent AS (
  SELECT * FROM post_dim WHERE posted_at >= current_date - CAST($days AS INTEGER)
), latest AS (
  SELECT post_id, arg_max(engagement, downloaded_at) AS engagement, arg_max(views, downloaded_at) AS views,
         count(*) AS snapshots, max(downloaded_at) AS last_at
  FROM snapshots GROUP BY post_id
), at24 AS (
  SELECT r.post_id, s.engagement AS engagement_24h
  FROM (SELECT post_id, posted_at + INTERVAL 24 HOUR AS at_ts FROM recent) r
  ASOF JOIN (SELECT * FROM snapshots WHERE NOT captured_before_post) s
    ON r.post_id = s.post_id AND r.at_ts >= s.downloaded_at
)
SELECT r.platform, count(*) AS posts, round(avg(l.snapshots), 1) AS snapshots_per_post,
       round(avg(l.engagement), 1) AS avg_engagement, median(l.engagement) AS median_engagement,
       sum(l.engagement) FILTER (WHERE l.views > 0) / nullif(sum(l.views) FILTER (WHERE l.views > 0), 0) AS engagement_per_view,
       median(a.engagement_24h) FILTER (WHERE l.last_at >= r.posted_at + INTERVAL 24 HOUR) AS median_engagement_24h
FROM recent r JOIN latest l USING (post_id) LEFT JOIN at24 a USING (post_id)
GROUP BY r.platform
ORDER BY avg_engagement DESC NULLS LAST
