-- Tables for the pgbench scripts beside this file. Apply to an empty
-- database after the audit migration:
--   psql -d DB -f db/postgres/migrations/0001_audit.sql -f bench/pgbench/setup.sql
-- account_regulated carries the deferred tg_require_audit trigger, like a
-- regulated table; account_plain does not. queue_noindex is audit_queue
-- without the txid index.
CREATE TABLE account_regulated (
	id         bigint PRIMARY KEY,
	trial      text NOT NULL,
	site       text NOT NULL,
	username   text NOT NULL,
	full_name  text NOT NULL,
	email      text NOT NULL,
	role       text NOT NULL,
	created_us bigint NOT NULL
);
CREATE CONSTRAINT TRIGGER account_regulated_require_audit
	AFTER INSERT OR UPDATE OR DELETE ON account_regulated
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE TABLE account_plain (LIKE account_regulated INCLUDING ALL);
CREATE TABLE queue_noindex (LIKE audit_queue INCLUDING DEFAULTS);
ALTER TABLE queue_noindex ADD PRIMARY KEY (id);
