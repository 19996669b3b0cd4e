-- Reader-site affiliations (package auth); see the SQLite migration of the
-- same number. Regulated like grants: the deferred audit constraint
-- trigger, no delete, removal once.
CREATE TABLE user_affiliations (
	id         text PRIMARY KEY,
	user_id    text NOT NULL REFERENCES users (id),
	trial      text NOT NULL,
	site       text NOT NULL,
	added_us   bigint NOT NULL,
	added_by   text NOT NULL,
	removed_us bigint,
	removed_by text,
	CHECK ((removed_us IS NULL) = (removed_by IS NULL))
);
CREATE UNIQUE INDEX user_affiliations_live ON user_affiliations (user_id, trial, site) WHERE removed_us IS NULL;
CREATE INDEX user_affiliations_trial ON user_affiliations (trial, user_id);

CREATE FUNCTION tg_user_affiliations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'affiliations are never deleted: remove instead' USING ERRCODE = 'TGA02';
	END IF;
	IF OLD.removed_us IS NOT NULL OR NEW.removed_us IS NULL
		OR NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.trial <> OLD.trial OR NEW.site <> OLD.site
		OR NEW.added_us <> OLD.added_us OR NEW.added_by <> OLD.added_by THEN
		RAISE EXCEPTION 'an affiliation may only be removed, once' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER user_affiliations_guard BEFORE UPDATE OR DELETE ON user_affiliations
	FOR EACH ROW EXECUTE FUNCTION tg_user_affiliations_guard();
CREATE TRIGGER user_affiliations_no_truncate BEFORE TRUNCATE ON user_affiliations
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE CONSTRAINT TRIGGER user_affiliations_audited AFTER INSERT OR UPDATE OR DELETE ON user_affiliations
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
