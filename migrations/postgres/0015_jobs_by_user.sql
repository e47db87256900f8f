-- A leaving user's jobs are dropped by user (DropJobsOfGoneUser); the only
-- index with user_id had it second, after kind, so each unlink read every job.
CREATE INDEX jobs_by_user ON jobs (user_id);
