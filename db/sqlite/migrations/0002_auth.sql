-- Accounts, role grants and sessions (package auth). Regulated: every change
-- is made through db.Write with its audit entry. Accounts and grants are
-- never deleted: an account is deactivated, a grant revoked (a new state of
-- the row), and the triggers below refuse anything else. Times are
-- microseconds since the Unix epoch, UTC.

-- users: one row per person. password_hash is an argon2id PHC string
-- ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"); the password itself is
-- never stored. failed_logins counts consecutive failed password checks
-- (logins and signatures); locked_until_us is 0 unless a lockout was applied.
CREATE TABLE users (
	id              text PRIMARY KEY,
	username        text NOT NULL UNIQUE,
	full_name       text NOT NULL,
	active          integer NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	password_hash   text NOT NULL,
	failed_logins   integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
	locked_until_us integer NOT NULL DEFAULT 0,
	created_us      integer NOT NULL,
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
	granted_us integer NOT NULL,
	granted_by text NOT NULL,
	revoked_us integer,
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
	token_hash blob NOT NULL UNIQUE CHECK (length(token_hash) = 32),
	user_id    text NOT NULL REFERENCES users (id),
	created_us integer NOT NULL,
	expires_us integer NOT NULL,
	ended_us   integer,
	end_reason text,
	ip         text NOT NULL,
	user_agent text NOT NULL,
	CHECK ((ended_us IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_user_open ON sessions (user_id) WHERE ended_us IS NULL;

CREATE TRIGGER users_no_delete BEFORE DELETE ON users
BEGIN SELECT RAISE(ABORT, 'accounts are never deleted: deactivate instead'); END;
CREATE TRIGGER users_fixed BEFORE UPDATE ON users
WHEN NEW.id <> OLD.id OR NEW.username <> OLD.username OR NEW.created_us <> OLD.created_us
	OR NEW.created_by <> OLD.created_by
BEGIN SELECT RAISE(ABORT, 'an account''s id, username and creation are fixed'); END;
CREATE TRIGGER grants_no_delete BEFORE DELETE ON grants
BEGIN SELECT RAISE(ABORT, 'grants are never deleted: revoke instead'); END;
CREATE TRIGGER grants_revoke_only BEFORE UPDATE ON grants
WHEN OLD.revoked_us IS NOT NULL OR NEW.revoked_us IS NULL
	OR NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.role <> OLD.role OR NEW.trial <> OLD.trial
	OR NEW.site <> OLD.site OR NEW.granted_us <> OLD.granted_us OR NEW.granted_by <> OLD.granted_by
BEGIN SELECT RAISE(ABORT, 'a grant may only be revoked, once'); END;
