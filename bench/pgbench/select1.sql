-- plain + one trivial statement: the price of a round trip
\set id random(1, 1000000000000)
BEGIN;
INSERT INTO account_plain VALUES (:id, 'bench-0', 'S001', 'user' || :id, 'Ada Example', 'ada@site.example.org', 'reader', 1);
SELECT 1;
END;
