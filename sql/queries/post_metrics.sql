-- name: post_metrics
-- title: Post metrics at standard ages (1 h, 24 h, 7 d)
-- description: Per post and standard age after posting, the metrics linearly interpolated between the snapshots around that age. interpolated = false when a snapshot hits the age exactly; values are NULL when the age lies outside the observed snapshots (never extrapolated) or the post has no posted_at. Snapshots captured before posted_at are left out.
-- param: post_id text = NULL        | only this post
-- param: platform text = NULL       | only this platform
WITH ages(age_label, age_hours) AS (VALUES ('1h', 1), ('24h', 24), ('7d', 168)),
targets AS (
  SELECT p.id AS post_id, p.platform, p.posted_at, a.age_label, a.age_hours,
         p.posted_at + to_hours(a.age_hours) AS at_ts
  FROM posts p CROSS JOIN ages a
  WHERE p.posted_at IS NOT NULL
    AND ($post_id IS NULL OR p.id = $post_id) AND ($platform IS NULL OR p.platform = $platform)
),
-- snapshots captured before the post was published (flagged captured_before_post at import) are impossible
-- and never bracket an age
s AS (SELECT sn.post_id, sn.downloaded_at, sn.engagement, sn.reactions, sn.comments, sn.shares, sn.views
      FROM snapshots sn JOIN posts p ON p.id = sn.post_id
      WHERE p.posted_at IS NULL OR sn.downloaded_at >= p.posted_at),
bracket AS (
  SELECT t.*, b.downloaded_at AS t0, b.engagement AS e0, b.reactions AS r0, b.comments AS c0, b.shares AS s0, b.views AS v0
  FROM targets t ASOF LEFT JOIN s b ON t.post_id = b.post_id AND t.at_ts >= b.downloaded_at
),
brackets AS (
  SELECT x.*, n.downloaded_at AS t1, n.engagement AS e1, n.reactions AS r1, n.comments AS c1, n.shares AS s1, n.views AS v1,
         CASE WHEN x.t0 IS NULL OR n.downloaded_at IS NULL THEN NULL
              WHEN n.downloaded_at = x.t0 THEN 0.0
              ELSE (epoch(x.at_ts) - epoch(x.t0)) / (epoch(n.downloaded_at) - epoch(x.t0)) END AS f
  FROM bracket x ASOF LEFT JOIN s n ON x.post_id = n.post_id AND x.at_ts <= n.downloaded_at
)
SELECT post_id, platform, posted_at, age_label, age_hours,
       f IS NOT NULL AND t0 <> at_ts AS interpolated,
       t0 AS snapshot_before, t1 AS snapshot_after,
       e0 + (e1 - e0) * f AS engagement, r0 + (r1 - r0) * f AS reactions, c0 + (c1 - c0) * f AS comments,
       s0 + (s1 - s0) * f AS shares, v0 + (v1 - v0) * f AS views
FROM brackets
ORDER BY post_id, age_hours
