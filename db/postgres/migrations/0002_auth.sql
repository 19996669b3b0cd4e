-- Accounts, role grants and sessions (package auth). Regulated: every change
-- is made through db.Write with its audit entry, and the deferred constraint
-- triggers at the end refuse to commit a change to these tables without one.
-- Accounts and grants are never deleted: an account is deactivated, a grant
-- revoked (a new state of the row), and the guard triggers refuse anything
-- else. Times are microseconds since the Unix epoch, UTC.

-- users: one row per person. password_hash is an argon2id PHC string
-- ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"); the password itself is
-- never stored. failed_logins counts consecutive failed password checks
-- (logins and signatures); locked_until_us is 0 unless a lockout was applied.
CREATE TABLE users (
	id              text PRIMARY KEY,
	username        text NOT NULL UNIQUE,
	full_name       text NOT NULL,
	active          boolean NOT NULL DEFAULT true,
	password_hash   text NOT NULL,
	failed_logins   integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
	locked_until_us bigint NOT NULL DEFAULT 0,
	created_us      bigint NOT NULL,
	created_by      text NOT NULL
);

-- grants: one row per role grant. trial is '' for admin and '*' for an
-- all-trials qa_reviewer or inspector; site is '' unless the role is
-- site_uploader. A revoked grant keeps its row with revoked_us and
-- revoked_by set.
CREATE TABLE grants (
	id         text PRIMARY KEY,
	user_id    text NOT NULL REFERENCES users (id),
	role       text NOT NULL,
	trial      text NOT NULL,
	site       text NOT NULL,
	granted_us bigint NOT NULL,
	granted_by text NOT NULL,
	revoked_us bigint,
	revoked_by text,
	CHECK ((revoked_us IS NULL) = (revoked_by IS NULL))
);
-- At most one live grant of a role and scope per user.
CREATE UNIQUE INDEX grants_live ON grants (user_id, role, trial, site) WHERE revoked_us IS NULL;

-- sessions: the bearer token is stored only as its SHA-256. id names the
-- session in the audit trail. ended_us/end_reason are set once, when the
-- session is logged out, expires, or its account is deactivated. The time
-- of last use lives in the activity table (key 'session/<id>').
CREATE TABLE sessions (
	id         text PRIMARY KEY,
	token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	user_id    text NOT NULL REFERENCES users (id),
	created_us bigint NOT NULL,
	expires_us bigint NOT NULL,
	ended_us   bigint,
	end_reason text,
	ip         text NOT NULL,
	user_agent text NOT NULL,
	CHECK ((ended_us IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_user_open ON sessions (user_id) WHERE ended_us IS NULL;

CREATE FUNCTION tg_users_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'accounts are never deleted: deactivate instead' USING ERRCODE = 'TGA02';
	END IF;
	IF NEW.id <> OLD.id OR NEW.username <> OLD.username OR NEW.created_us <> OLD.created_us
		OR NEW.created_by <> OLD.created_by THEN
		RAISE EXCEPTION 'an account''s id, username and creation are fixed' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER users_guard BEFORE UPDATE OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION tg_users_guard();
CREATE TRIGGER users_no_truncate BEFORE TRUNCATE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();

CREATE FUNCTION tg_grants_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'grants are never deleted: revoke instead' USING ERRCODE = 'TGA02';
	END IF;
	IF OLD.revoked_us IS NOT NULL OR NEW.revoked_us IS NULL
		OR NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.role <> OLD.role OR NEW.trial <> OLD.trial
		OR NEW.site <> OLD.site OR NEW.granted_us <> OLD.granted_us OR NEW.granted_by <> OLD.granted_by THEN
		RAISE EXCEPTION 'a grant may only be revoked, once' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER grants_guard BEFORE UPDATE OR DELETE ON grants
	FOR EACH ROW EXECUTE FUNCTION tg_grants_guard();
CREATE TRIGGER grants_no_truncate BEFORE TRUNCATE ON grants
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();

-- No change to these tables commits without an audit entry in the same
-- transaction (tg_require_audit is defined in 0001).
CREATE CONSTRAINT TRIGGER users_audited AFTER INSERT OR UPDATE OR DELETE ON users
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER grants_audited AFTER INSERT OR UPDATE OR DELETE ON grants
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER sessions_audited AFTER INSERT OR UPDATE OR DELETE ON sessions
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
