-- The audit trail. Rows of audit_log are never updated or deleted; the
-- triggers below refuse it for every role, and the application role should
-- also lack the privileges (see db/postgres/roles.sql).

-- audit_queue: entries committed by business transactions, waiting for the
-- sequencer. txid lets the regulated-table trigger see that the current
-- transaction wrote an entry.
CREATE TABLE audit_queue (
	id             bigserial PRIMARY KEY,
	txid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
	chain          text NOT NULL,
	event_us       bigint NOT NULL,
	actor_id       text NOT NULL,
	actor_username text NOT NULL,
	action         text NOT NULL,
	object         text NOT NULL,
	trial          text NOT NULL,
	site           text NOT NULL,
	outcome        text NOT NULL,
	canonical      bytea NOT NULL
);
CREATE INDEX audit_queue_txid ON audit_queue (txid);

-- audit_log: the chained trail. canonical holds the entry's bytes exactly as
-- hashed; the other columns index it.
CREATE TABLE audit_log (
	chain          text NOT NULL,
	seq            bigint NOT NULL CHECK (seq > 0),
	queue_id       bigint UNIQUE,
	event_us       bigint NOT NULL,
	chained_us     bigint NOT NULL,
	actor_id       text NOT NULL,
	actor_username text NOT NULL,
	action         text NOT NULL,
	object         text NOT NULL,
	trial          text NOT NULL,
	site           text NOT NULL,
	outcome        text NOT NULL,
	canonical      bytea NOT NULL,
	prev_hash      bytea NOT NULL CHECK (length(prev_hash) = 32),
	hash           bytea NOT NULL CHECK (length(hash) = 32),
	PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_log_event ON audit_log (chain, event_us);
CREATE INDEX audit_log_object ON audit_log (object);
CREATE INDEX audit_log_actor ON audit_log (actor_id);
CREATE INDEX audit_log_action ON audit_log (action);

-- audit_head: the newest entry of each chain, advanced only forwards.
CREATE TABLE audit_head (
	chain      text PRIMARY KEY,
	seq        bigint NOT NULL,
	hash       bytea NOT NULL,
	chained_us bigint NOT NULL
);

CREATE FUNCTION tg_refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit entries are append-only: % on % refused', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'TGA02';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
	FOR EACH ROW EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue
	FOR EACH ROW EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER audit_queue_no_truncate BEFORE TRUNCATE ON audit_queue
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();

CREATE FUNCTION tg_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.chain <> OLD.chain OR NEW.seq <= OLD.seq THEN
		RAISE EXCEPTION 'audit chain head % may only advance (seq % to %)', OLD.chain, OLD.seq, NEW.seq
			USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
	FOR EACH ROW EXECUTE FUNCTION tg_audit_head_forward();

-- A queued entry may leave the queue only once it is in the log.
CREATE FUNCTION tg_audit_queue_drain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM audit_log WHERE queue_id = OLD.id) THEN
		RAISE EXCEPTION 'audit queue entry % is not chained yet and may not be deleted', OLD.id
			USING ERRCODE = 'TGA02';
	END IF;
	RETURN OLD;
END $$;
CREATE TRIGGER audit_queue_drain BEFORE DELETE ON audit_queue
	FOR EACH ROW EXECUTE FUNCTION tg_audit_queue_drain();

-- Attached (as a deferred constraint trigger) to every regulated table:
-- a transaction that changed the table must have queued an audit entry.
CREATE FUNCTION tg_require_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM audit_queue WHERE txid = pg_current_xact_id()) THEN
		RAISE EXCEPTION 'change to regulated table % without an audit entry', TG_TABLE_NAME
			USING ERRCODE = 'TGA01';
	END IF;
	RETURN NULL;
END $$;

-- activity: the last time a key (e.g. a session) was used. Operational
-- state, not regulated data: written only by db.MarkActivity's one fixed
-- statement, so the unit of work stays the only way to run arbitrary writes.
CREATE TABLE activity (
	key   text PRIMARY KEY,
	at_us bigint NOT NULL
);
