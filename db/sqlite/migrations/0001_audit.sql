-- The audit trail. Rows of audit_log are never updated or deleted; the
-- triggers below refuse it. SQLite chains entries inline in the business
-- transaction, so it has no queue.
CREATE TABLE audit_log (
	chain          text NOT NULL,
	seq            integer NOT NULL CHECK (seq > 0),
	queue_id       integer UNIQUE,
	event_us       integer NOT NULL,
	chained_us     integer NOT NULL,
	actor_id       text NOT NULL,
	actor_username text NOT NULL,
	action         text NOT NULL,
	object         text NOT NULL,
	trial          text NOT NULL,
	site           text NOT NULL,
	outcome        text NOT NULL,
	canonical      blob NOT NULL,
	prev_hash      blob NOT NULL CHECK (length(prev_hash) = 32),
	hash           blob NOT NULL CHECK (length(hash) = 32),
	PRIMARY KEY (chain, seq)
) WITHOUT ROWID;
CREATE INDEX audit_log_event ON audit_log (chain, event_us);
CREATE INDEX audit_log_object ON audit_log (object);
CREATE INDEX audit_log_actor ON audit_log (actor_id);
CREATE INDEX audit_log_action ON audit_log (action);

CREATE TABLE audit_head (
	chain      text PRIMARY KEY,
	seq        integer NOT NULL,
	hash       blob NOT NULL,
	chained_us integer NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: UPDATE on audit_log refused'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE on audit_log refused'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: DELETE on audit_head refused'); END;
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
WHEN NEW.chain <> OLD.chain OR NEW.seq <= OLD.seq
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only: a chain head may only advance'); END;

-- activity: the last time a key (e.g. a session) was used. Operational
-- state, not regulated data: written only by db.MarkActivity's one fixed
-- statement, so the unit of work stays the only way to run arbitrary writes.
CREATE TABLE activity (
	key   text PRIMARY KEY,
	at_us integer NOT NULL
);
