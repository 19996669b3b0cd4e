-- noaudit: the business INSERT alone (3 round trips)
\set id random(1, 1000000000000)
BEGIN;
INSERT INTO account_plain VALUES (:id, 'bench-0', 'S001', 'user' || :id, 'Ada Example', 'ada@site.example.org', 'reader', 1);
END;
