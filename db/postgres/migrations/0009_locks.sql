-- Data locks (package lock). Regulated: every change is made through
-- db.Write with its audit entry. A lock is never deleted: releasing it
-- sets released_us, once; its signatures and manifest leaves never change.
-- Times are microseconds since the Unix epoch, UTC.
--
-- scope is the lock's scope path (db.Scope.String(), e.g.
-- "trial/T1/site/S1/subject/S1-001"): the guard finds the locks over a
-- change by the paths of the change's scope and its ancestors (IN), and
-- those under it by a range on the path, both on the partial index of
-- locks in force. kind is its level; site, subject and visit its parts.
-- root is the hex RFC 6962 Merkle root of the manifest (lock_leaves),
-- leaves their number. release_signers is how many signatures a release
-- needs (the trial's policy when the lock was applied).
CREATE TABLE locks (
	id              text PRIMARY KEY,
	trial_id        text NOT NULL REFERENCES trials (id),
	scope           text COLLATE "C" NOT NULL,
	kind            text NOT NULL CHECK (kind IN ('trial', 'site', 'subject', 'visit')),
	site            text NOT NULL,
	subject         text NOT NULL,
	visit           text NOT NULL,
	locked_us       bigint NOT NULL,
	locked_by       text NOT NULL,
	locked_by_name  text NOT NULL,
	meaning         text NOT NULL,
	reason          text NOT NULL,
	record_sha256   text NOT NULL,
	root            text NOT NULL,
	leaves          integer NOT NULL,
	release_signers integer NOT NULL CHECK (release_signers IN (1, 2)),
	released_us     bigint
);
CREATE UNIQUE INDEX locks_in_force ON locks (trial_id, scope) WHERE released_us IS NULL;
CREATE INDEX locks_trial ON locks (trial_id, locked_us);

-- The signatures of a lock's release, in order (n 1, then 2 when the
-- release needs a second signer). record_sha256 is the SHA-256 of the
-- signed release record.
CREATE TABLE lock_release_signatures (
	lock_id       text NOT NULL REFERENCES locks (id),
	n             integer NOT NULL CHECK (n IN (1, 2)),
	signer_id     text NOT NULL,
	signer_name   text NOT NULL,
	role          text NOT NULL,
	meaning       text NOT NULL,
	reason        text NOT NULL,
	record_sha256 text NOT NULL,
	signed_us     bigint NOT NULL,
	PRIMARY KEY (lock_id, n),
	UNIQUE (lock_id, signer_id)
);

-- A lock's manifest: one leaf per record in its scope when it was applied
-- (kind instance, submission, read, case), ref naming it, value its
-- state, hash the hex RFC 6962 leaf hash of its leaf bytes (package lock
-- documents them), in idx order.
CREATE TABLE lock_leaves (
	lock_id text NOT NULL REFERENCES locks (id),
	idx     integer NOT NULL,
	kind    text NOT NULL,
	ref     text NOT NULL,
	value   text NOT NULL,
	hash    text NOT NULL,
	PRIMARY KEY (lock_id, idx)
);

CREATE FUNCTION tg_locks_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'locks are never deleted' USING ERRCODE = 'TGA02';
	END IF;
	IF OLD.released_us IS NOT NULL OR NEW.released_us IS NULL
		OR (NEW.id, NEW.trial_id, NEW.scope, NEW.kind, NEW.site, NEW.subject, NEW.visit, NEW.locked_us, NEW.locked_by,
			NEW.locked_by_name, NEW.meaning, NEW.reason, NEW.record_sha256, NEW.root, NEW.leaves, NEW.release_signers)
		IS DISTINCT FROM (OLD.id, OLD.trial_id, OLD.scope, OLD.kind, OLD.site, OLD.subject, OLD.visit, OLD.locked_us,
			OLD.locked_by, OLD.locked_by_name, OLD.meaning, OLD.reason, OLD.record_sha256, OLD.root, OLD.leaves,
			OLD.release_signers) THEN
		RAISE EXCEPTION 'a lock is fixed; only its release is recorded, once' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER locks_guard BEFORE UPDATE OR DELETE ON locks
	FOR EACH ROW EXECUTE FUNCTION tg_locks_guard();
CREATE TRIGGER lock_release_signatures_guard BEFORE UPDATE OR DELETE ON lock_release_signatures
	FOR EACH ROW EXECUTE FUNCTION tg_read_immutable();
CREATE TRIGGER lock_leaves_guard BEFORE UPDATE OR DELETE ON lock_leaves
	FOR EACH ROW EXECUTE FUNCTION tg_read_immutable();
CREATE TRIGGER locks_no_truncate BEFORE TRUNCATE ON locks
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER lock_release_signatures_no_truncate BEFORE TRUNCATE ON lock_release_signatures
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER lock_leaves_no_truncate BEFORE TRUNCATE ON lock_leaves
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE CONSTRAINT TRIGGER locks_audited AFTER INSERT OR UPDATE OR DELETE ON locks
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER lock_release_signatures_audited AFTER INSERT OR UPDATE OR DELETE ON lock_release_signatures
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER lock_leaves_audited AFTER INSERT OR UPDATE OR DELETE ON lock_leaves
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
