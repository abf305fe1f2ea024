-- name: post_series
-- title: Post metrics time series
-- description: Every snapshot of each post with the change since the previous snapshot (deltas) and the velocity per hour. Computed on demand from data_downloads (append-only), so it is always current.
-- param: post_id text = NULL        | only this post
-- param: platform text = NULL       | only this platform
-- param: limit_posts int = 20       | the N posts with the highest latest engagement (when post_id is not given)
WITH chosen AS (
  SELECT s.post_id
  FROM snapshots s JOIN posts p ON p.id = s.post_id
  WHERE ($post_id IS NULL OR s.post_id = $post_id) AND ($platform IS NULL OR p.platform = $platform)
  GROUP BY s.post_id
  ORDER BY arg_max(s.engagement, s.downloaded_at) DESC NULLS LAST, s.post_id
  LIMIT $limit_posts
)
SELECT s.post_id, p.platform, p.posted_at, s.downloaded_at,
       round((epoch(s.downloaded_at) - epoch(p.posted_at)) / 3600.0, 2) AS age_hours,
       s.engagement, s.reactions, s.comments, s.shares, s.views, s.saves,
       s.engagement - lag(s.engagement) OVER w AS engagement_delta,
       s.reactions - lag(s.reactions) OVER w AS reactions_delta,
       s.comments - lag(s.comments) OVER w AS comments_delta,
       s.shares - lag(s.shares) OVER w AS shares_delta,
       s.views - lag(s.views) OVER w AS views_delta,
       round((epoch(s.downloaded_at) - epoch(lag(s.downloaded_at) OVER w)) / 3600.0, 3) AS hours_since_previous,
       (s.engagement - lag(s.engagement) OVER w) / nullif((epoch(s.downloaded_at) - epoch(lag(s.downloaded_at) OVER w)) / 3600.0, 0) AS engagement_per_hour,
       (s.views - lag(s.views) OVER w) / nullif((epoch(s.downloaded_at) - epoch(lag(s.downloaded_at) OVER w)) / 3600.0, 0) AS views_per_hour
FROM snapshots s JOIN chosen c ON c.post_id = s.post_id JOIN posts p ON p.id = s.post_id
WINDOW w AS (PARTITION BY s.post_id ORDER BY s.downloaded_at)
ORDER BY s.post_id, s.downloaded_at
