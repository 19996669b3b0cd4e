-- Trial definitions (package trial); see the SQLite migration of the same
-- number for the meaning of every column. Regulated: each table carries
-- the deferred audit constraint trigger, and guards that keep versions
-- immutable except for their one approval.
CREATE TABLE trials (
	id              text PRIMARY KEY,
	name            text NOT NULL,
	current_version integer NOT NULL CHECK (current_version >= 1),
	created_us      bigint NOT NULL,
	created_by      text NOT NULL,
	updated_us      bigint NOT NULL
);

CREATE TABLE trial_versions (
	trial_id         text NOT NULL REFERENCES trials (id),
	version          integer NOT NULL CHECK (version >= 1),
	definition       bytea NOT NULL,
	sha256           text NOT NULL CHECK (length(sha256) = 64),
	created_us       bigint NOT NULL,
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

CREATE FUNCTION tg_trials_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'trials are never deleted' USING ERRCODE = 'TGA02';
	END IF;
	IF NEW.id <> OLD.id OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
		OR NEW.current_version <> OLD.current_version + 1 THEN
		RAISE EXCEPTION 'a trial''s id and creation are fixed; its version only advances by one' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER trials_guard BEFORE UPDATE OR DELETE ON trials
	FOR EACH ROW EXECUTE FUNCTION tg_trials_guard();
CREATE TRIGGER trials_no_truncate BEFORE TRUNCATE ON trials
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();

CREATE FUNCTION tg_trial_versions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'trial versions are never deleted' USING ERRCODE = 'TGA02';
	END IF;
	IF OLD.approved_by IS NOT NULL OR NEW.approved_by IS NULL
		OR NEW.trial_id <> OLD.trial_id OR NEW.version <> OLD.version OR NEW.definition <> OLD.definition
		OR NEW.sha256 <> OLD.sha256 OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
		OR NEW.created_by_name <> OLD.created_by_name OR NEW.reason <> OLD.reason THEN
		RAISE EXCEPTION 'a trial version is fixed; it may only be approved, once' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER trial_versions_guard BEFORE UPDATE OR DELETE ON trial_versions
	FOR EACH ROW EXECUTE FUNCTION tg_trial_versions_guard();
CREATE TRIGGER trial_versions_no_truncate BEFORE TRUNCATE ON trial_versions
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();

CREATE CONSTRAINT TRIGGER trials_audited AFTER INSERT OR UPDATE OR DELETE ON trials
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER trial_versions_audited AFTER INSERT OR UPDATE OR DELETE ON trial_versions
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
