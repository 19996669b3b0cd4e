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
	at_us    bigint NOT NULL,
	mode     text NOT NULL,
	until_us bigint NOT NULL,
	objects  integer NOT NULL,
	kept     integer NOT NULL,
	PRIMARY KEY (lock_id, event)
);

CREATE TRIGGER lock_retention_guard BEFORE UPDATE OR DELETE ON lock_retention
	FOR EACH ROW EXECUTE FUNCTION tg_read_immutable();
CREATE TRIGGER lock_retention_no_truncate BEFORE TRUNCATE ON lock_retention
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE CONSTRAINT TRIGGER lock_retention_audited AFTER INSERT OR UPDATE OR DELETE ON lock_retention
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
