-- WORM retention of locked objects (package lock, on an S3 store with
-- Object Lock). Regulated: written through db.Write with its audit entry
-- (lock.retained, lock.retention_lifted), never changed or deleted.
--
-- One row when the objects of a lock's manifest were retained (event
-- 'retained') and one when, after its release, the retention was lifted
-- (event 'lifted'). mode is the S3 Object Lock mode (GOVERNANCE or
-- COMPLIANCE), until_us when the retention placed ends (0 for a lift),
-- objects how many objects the event covered, kept how many a lift left
-- retained (held by another lock in force, or COMPLIANCE).
CREATE TABLE lock_retention (
	lock_id  text NOT NULL REFERENCES locks (id),
	event    text NOT NULL CHECK (event IN ('retained', 'lifted')),
	at_us    integer NOT NULL,
	mode     text NOT NULL,
	until_us integer NOT NULL,
	objects  integer NOT NULL,
	kept     integer NOT NULL,
	PRIMARY KEY (lock_id, event)
);

CREATE TRIGGER lock_retention_no_delete BEFORE DELETE ON lock_retention
BEGIN SELECT RAISE(ABORT, 'lock retention records are never deleted'); END;
CREATE TRIGGER lock_retention_no_update BEFORE UPDATE ON lock_retention
BEGIN SELECT RAISE(ABORT, 'lock retention records are never changed'); END;
