-- name: growth_curve_by_platform
-- title: Average growth curve per platform
-- description: Average engagement and views per platform by hours since posting (hourly buckets up to max_hours), over every snapshot of every post: the typical curve to compare a post against.
-- param: platform text = NULL       | only this platform
-- param: max_hours int = 720        | ignore snapshots later than this age
SELECT p.platform, CAST(floor((epoch(d.downloaded_at) - epoch(p.posted_at)) / 3600) AS INTEGER) AS age_hour,
       count(*) AS snapshots,
       avg(coalesce(d.total_reactions, d.like_count, 0) + coalesce(d.comment_count, 0) + coalesce(d.share_count, 0) + coalesce(d.save_count, 0)) AS avg_engagement,
       avg(d.view_count) AS avg_views
FROM data_downloads d JOIN posts p ON p.id = d.post_id
WHERE p.posted_at IS NOT NULL AND d.downloaded_at >= p.posted_at AND NOT d.captured_before_post
  AND epoch(d.downloaded_at) < epoch(p.posted_at) + $max_hours * 3600
  AND ($platform IS NULL OR p.platform = $platform)
GROUP BY ALL
ORDER BY platform, age_hour
