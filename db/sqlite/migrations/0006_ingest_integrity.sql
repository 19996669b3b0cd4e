-- Upload integrity (package ingest).
--
-- original_sop_hmac is HMAC-SHA256, in hex, of the instance's original
-- SOP Instance UID under a key derived from the gateway's de-identification
-- master secret and shared by every trial: never the UID itself, which is
-- not kept. De-identified UIDs differ per trial (each trial remaps with its
-- own key), so this is what recognises the same original instance sent
-- for another trial. Its unique index makes "one original instance is
-- stored once, in one trial, for one subject's visit" structural and
-- race-free under concurrent uploads. Instances received before this
-- migration have NULL (their original UIDs were never kept); NULLs are
-- distinct, so they never collide.
--
-- instances_original_sha256 finds every instance whose kept original
-- (original_key) is a given object, whatever its trial: ingest reads it
-- before it removes an object a refused upload wrote.
ALTER TABLE instances ADD COLUMN original_sop_hmac text
	CHECK (original_sop_hmac IS NULL OR length(original_sop_hmac) = 64);
CREATE UNIQUE INDEX instances_original_sop ON instances (original_sop_hmac);
CREATE INDEX instances_original_sha256 ON instances (original_sha256);

-- The stored instance's guard (0004_ingest.sql) also keeps the new column
-- fixed: only a held instance's status ever changes.
DROP TRIGGER instances_fixed;
CREATE TRIGGER instances_fixed BEFORE UPDATE ON instances
WHEN OLD.status <> 'held' OR NEW.status NOT IN ('released', 'rejected')
	OR NEW.trial_id <> OLD.trial_id OR NEW.sop_uid <> OLD.sop_uid OR NEW.submission_id <> OLD.submission_id
	OR NEW.object_sha256 <> OLD.object_sha256 OR NEW.original_sha256 <> OLD.original_sha256
	OR NEW.metadata <> OLD.metadata OR NEW.received_us <> OLD.received_us OR NEW.received_by <> OLD.received_by
	OR NEW.original_sop_hmac IS NOT OLD.original_sop_hmac
BEGIN SELECT RAISE(ABORT, 'a stored instance is never changed; only a held one is released or rejected, once'); END;
