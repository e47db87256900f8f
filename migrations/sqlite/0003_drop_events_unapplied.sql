-- Nothing can match it: applied_at is set by the insert that stores an event.
DROP INDEX IF EXISTS events_unapplied;
