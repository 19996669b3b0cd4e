-- Trial definitions (package trial). Regulated: every change is made
-- through db.Write with its audit entry. A definition is never edited in
-- place: a change is a new row in trial_versions, and old versions stay
-- readable. definition holds the canonical bytes exactly as signed;
-- sha256 is their lower-case hex SHA-256. An approval (an electronic
-- signature, meaning "approval") is recorded once on its version:
-- approved_at is the signature's time in the audit time format, so the
-- stored signature is reproduced exactly for verification. Times are
-- microseconds since the Unix epoch, UTC.
CREATE TABLE trials (
	id              text PRIMARY KEY,
	name            text NOT NULL,
	current_version integer NOT NULL CHECK (current_version >= 1),
	created_us      integer NOT NULL,
	created_by      text NOT NULL,
	updated_us      integer NOT NULL
);

CREATE TABLE trial_versions (
	trial_id         text NOT NULL REFERENCES trials (id),
	version          integer NOT NULL CHECK (version >= 1),
	definition       blob NOT NULL,
	sha256           text NOT NULL CHECK (length(sha256) = 64),
	created_us       integer NOT NULL,
	created_by       text NOT NULL,
	created_by_name  text NOT NULL,
	reason           text NOT NULL,
	approved_by      text,
	approved_name    text,
	approved_at      text,
	approved_meaning text,
	approved_sha256  text,
	PRIMARY KEY (trial_id, version),
	CHECK ((approved_by IS NULL) = (approved_at IS NULL))
);

CREATE TRIGGER trials_no_delete BEFORE DELETE ON trials
BEGIN SELECT RAISE(ABORT, 'trials are never deleted'); END;
CREATE TRIGGER trials_fixed BEFORE UPDATE ON trials
WHEN NEW.id <> OLD.id OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
	OR NEW.current_version <> OLD.current_version + 1
BEGIN SELECT RAISE(ABORT, 'a trial''s id and creation are fixed; its version only advances by one'); END;
CREATE TRIGGER trial_versions_no_delete BEFORE DELETE ON trial_versions
BEGIN SELECT RAISE(ABORT, 'trial versions are never deleted'); END;
CREATE TRIGGER trial_versions_approve_only BEFORE UPDATE ON trial_versions
WHEN OLD.approved_by IS NOT NULL OR NEW.approved_by IS NULL
	OR NEW.trial_id <> OLD.trial_id OR NEW.version <> OLD.version OR NEW.definition <> OLD.definition
	OR NEW.sha256 <> OLD.sha256 OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
	OR NEW.created_by_name <> OLD.created_by_name OR NEW.reason <> OLD.reason
BEGIN SELECT RAISE(ABORT, 'a trial version is fixed; it may only be approved, once'); END;
