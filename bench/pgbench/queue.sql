-- plain + the queue row of db.DB.Write (480-byte entry), no trigger
\set id random(1, 1000000000000)
BEGIN;
INSERT INTO account_plain VALUES (:id, 'bench-0', 'S001', 'user' || :id, 'Ada Example', 'ada@site.example.org', 'reader', 1);
INSERT INTO audit_queue (chain, event_us, actor_id, actor_username, action, object, trial, site, outcome, canonical)
	VALUES ('trial/bench-0', 1, 'u_0123456789abcdef', 'ada', 'user.created', 'user/u_' || :id, 'bench-0', 'S001', 'success', decode(repeat('7b22', 240), 'hex'));
END;
