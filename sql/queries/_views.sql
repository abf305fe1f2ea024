-- Helper views created in every analytics session (not a report). Tables of the store are
-- already visible unqualified as views over pg.public.*.
--
-- snapshots: data_downloads with the derived measures every report uses.
--   reactions  = total_reactions, else like_count (LinkedIn counts all reactions, others likes)
--   engagement = reactions + comments + shares + saves (NULL parts count 0; NULL when all are NULL)
CREATE OR REPLACE VIEW snapshots AS
SELECT d.id AS snapshot_id, d.post_id, d.run_id, d.downloaded_at,
       coalesce(d.total_reactions, d.like_count) AS reactions,
       d.like_count AS likes, d.comment_count AS comments, d.share_count AS shares,
       d.view_count AS views, d.save_count AS saves, d.impression_count AS impressions,
       CASE WHEN coalesce(d.total_reactions, d.like_count, d.comment_count, d.share_count, d.save_count) IS NULL THEN NULL
            ELSE coalesce(d.total_reactions, d.like_count, 0) + coalesce(d.comment_count, 0)
                 + coalesce(d.share_count, 0) + coalesce(d.save_count, 0) END AS engagement
FROM data_downloads d;

-- post_dim: one row per post with its author, account, workspace and the author's followers.
-- A post belongs to the account that published it, else to the account linked to its author.
CREATE OR REPLACE VIEW post_dim AS
SELECT p.id AS post_id, p.platform, p.platform_post_id, p.url, p.author_username,
       p.author_profile_id, coalesce(p.account_id, pr.account_id) AS account_id,
       a.workspace_id, w.name AS workspace_name, p.posted_at, p.content_type,
       left(coalesce(p.text_content, ''), 80) AS text_preview, pr.follower_count AS author_followers
FROM posts p
LEFT JOIN profiles pr ON pr.id = p.author_profile_id
LEFT JOIN accounts a ON a.id = coalesce(p.account_id, pr.account_id)
LEFT JOIN workspaces w ON w.id = a.workspace_id;
