-- plain + a second business INSERT
\set id random(1, 1000000000000)
\set id2 random(1, 1000000000000)
BEGIN;
INSERT INTO account_plain VALUES (:id, 'bench-0', 'S001', 'user' || :id, 'Ada Example', 'ada@site.example.org', 'reader', 1);
INSERT INTO account_plain VALUES (:id2, 'bench-0', 'S001', 'user' || :id2, 'Ada Example', 'ada@site.example.org', 'reader', 1);
END;
