-- name: growth_curves
-- title: Growth curves
-- description: Cumulative engagement and views against hours since posting, per post (the top posts by latest engagement), for plotting and comparing posts of different ages.
-- param: platform text = NULL       | only this platform
-- param: workspace text = NULL      | only posts of this workspace (name)
-- param: max_hours int = 720        | ignore snapshots later than this age
-- param: limit_posts int = 10       | how many posts
WITH chosen AS (
  SELECT d.post_id
  FROM post_dim d JOIN snapshots s ON s.post_id = d.post_id
  WHERE ($platform IS NULL OR d.platform = $platform) AND ($workspace IS NULL OR d.workspace_name = $workspace)
    AND d.posted_at IS NOT NULL
  GROUP BY d.post_id
  ORDER BY arg_max(s.engagement, s.downloaded_at) DESC NULLS LAST, d.post_id
  LIMIT $limit_posts
)
SELECT s.post_id, d.platform, d.author_username,
       round((epoch(s.downloaded_at) - epoch(d.posted_at)) / 3600.0, 2) AS age_hours,
       s.engagement, s.views
FROM snapshots s JOIN chosen c USING (post_id) JOIN post_dim d ON d.post_id = s.post_id
WHERE s.downloaded_at >= d.posted_at AND NOT s.captured_before_post AND (epoch(s.downloaded_at) - epoch(d.posted_at)) <= $max_hours * 3600
ORDER BY s.post_id, age_hours
