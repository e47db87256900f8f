-- An event whose effects changed nothing (older than what is stored, or
-- about a user who is gone): marked, so the console can say it was ignored.
ALTER TABLE events ADD COLUMN changed_nothing BOOLEAN;
