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
	id              text PRIMARY KEY NOT NULL,
	trial_id        text NOT NULL REFERENCES trials (id),
	scope           text NOT NULL,
	kind            text NOT NULL CHECK (kind IN ('trial', 'site', 'subject', 'visit')),
	site            text NOT NULL,
	subject         text NOT NULL,
	visit           text NOT NULL,
	locked_us       integer NOT NULL,
	locked_by       text NOT NULL,
	locked_by_name  text NOT NULL,
	meaning         text NOT NULL,
	reason          text NOT NULL,
	record_sha256   text NOT NULL,
	root            text NOT NULL,
	leaves          integer NOT NULL,
	release_signers integer NOT NULL CHECK (release_signers IN (1, 2)),
	released_us     integer
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
	signed_us     integer NOT NULL,
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

CREATE TRIGGER locks_no_delete BEFORE DELETE ON locks
BEGIN SELECT RAISE(ABORT, 'locks are never deleted'); END;
CREATE TRIGGER locks_fixed BEFORE UPDATE ON locks
WHEN OLD.released_us IS NOT NULL OR NEW.released_us IS NULL
	OR NEW.id <> OLD.id OR NEW.trial_id <> OLD.trial_id OR NEW.scope <> OLD.scope OR NEW.kind <> OLD.kind
	OR NEW.site <> OLD.site OR NEW.subject <> OLD.subject OR NEW.visit <> OLD.visit
	OR NEW.locked_us <> OLD.locked_us OR NEW.locked_by <> OLD.locked_by OR NEW.locked_by_name <> OLD.locked_by_name
	OR NEW.meaning <> OLD.meaning OR NEW.reason <> OLD.reason OR NEW.record_sha256 <> OLD.record_sha256
	OR NEW.root <> OLD.root OR NEW.leaves <> OLD.leaves OR NEW.release_signers <> OLD.release_signers
BEGIN SELECT RAISE(ABORT, 'a lock is fixed; only its release is recorded, once'); END;
CREATE TRIGGER lock_release_signatures_no_delete BEFORE DELETE ON lock_release_signatures
BEGIN SELECT RAISE(ABORT, 'lock release signatures are never deleted'); END;
CREATE TRIGGER lock_release_signatures_no_update BEFORE UPDATE ON lock_release_signatures
BEGIN SELECT RAISE(ABORT, 'lock release signatures are never changed'); END;
CREATE TRIGGER lock_leaves_no_delete BEFORE DELETE ON lock_leaves
BEGIN SELECT RAISE(ABORT, 'lock manifests are never deleted'); END;
CREATE TRIGGER lock_leaves_no_update BEFORE UPDATE ON lock_leaves
BEGIN SELECT RAISE(ABORT, 'lock manifests are never changed'); END;
