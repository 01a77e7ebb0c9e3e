-- 007_dispatch.sql: the post dispatcher finds sends left by a worker that died through this index;
-- its claims and results live in sql/functions/.

CREATE INDEX social_posts_sending_idx ON social_posts (updated_at) WHERE status = 'sending';
