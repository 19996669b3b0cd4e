-- Sessions are regulated like accounts and grants (0002_auth.sql), but 0002
-- gave them only the deferred audit trigger: a DELETE with an audit entry
-- removed a session, and a TRUNCATE (which fires no row trigger, so not even
-- tg_require_audit) removed them all without one. A session is never
-- removed: it ends (ended_us and end_reason set), a new state of its row.
-- roles.sql already revokes DELETE and TRUNCATE on sessions from the
-- application role; these triggers refuse them for every role, as the other
-- regulated tables' do.
CREATE FUNCTION tg_sessions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'sessions are never deleted: end them instead' USING ERRCODE = 'TGA02';
END $$;
CREATE TRIGGER sessions_no_delete BEFORE DELETE ON sessions
	FOR EACH ROW EXECUTE FUNCTION tg_sessions_guard();
CREATE TRIGGER sessions_no_truncate BEFORE TRUNCATE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
