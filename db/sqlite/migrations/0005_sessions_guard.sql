-- Sessions are regulated like accounts and grants (0002_auth.sql), but 0002
-- gave them no trigger: a session could be deleted. A session is never
-- removed: it ends (ended_us and end_reason set), a new state of its row.
CREATE TRIGGER sessions_no_delete BEFORE DELETE ON sessions
BEGIN SELECT RAISE(ABORT, 'sessions are never deleted: end them instead'); END;
