-- Upload integrity (package ingest); see the SQLite migration of the same
-- number for the meaning of the columns. original_sop_hmac is the keyed
-- HMAC of the original SOP Instance UID under a gateway-wide key, never
-- the UID itself: its unique index lets one original instance be stored
-- once across every trial, race-free, and NULLs (instances received
-- before this migration, whose original UIDs were never kept) are
-- distinct. instances_original_sha256 finds every instance whose kept
-- original is a given object, whatever its trial.
ALTER TABLE instances ADD COLUMN original_sop_hmac text
	CHECK (original_sop_hmac IS NULL OR length(original_sop_hmac) = 64);
CREATE UNIQUE INDEX instances_original_sop ON instances (original_sop_hmac);
CREATE INDEX instances_original_sha256 ON instances (original_sha256);

-- The stored instance's guard (0004_ingest.sql) also keeps the new column
-- fixed: only a held instance's status ever changes.
CREATE OR REPLACE FUNCTION tg_instances_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'instances are never deleted' USING ERRCODE = 'TGA02';
	END IF;
	IF OLD.status <> 'held' OR NEW.status NOT IN ('released', 'rejected')
		OR NEW.trial_id <> OLD.trial_id OR NEW.sop_uid <> OLD.sop_uid OR NEW.submission_id <> OLD.submission_id
		OR NEW.object_sha256 <> OLD.object_sha256 OR NEW.original_sha256 <> OLD.original_sha256
		OR NEW.metadata <> OLD.metadata OR NEW.received_us <> OLD.received_us OR NEW.received_by <> OLD.received_by
		OR NEW.original_sop_hmac IS DISTINCT FROM OLD.original_sop_hmac THEN
		RAISE EXCEPTION 'a stored instance is never changed; only a held one is released or rejected, once' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
