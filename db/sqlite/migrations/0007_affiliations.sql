-- Reader-site affiliations (package auth): the sites of a trial a person
-- belongs to, so that they never read a blinded case from one of them.
-- Regulated like grants: a row is never deleted, only ended once
-- (removed_us, removed_by). Times are microseconds since the Unix epoch, UTC.
CREATE TABLE user_affiliations (
	id         text PRIMARY KEY NOT NULL,
	user_id    text NOT NULL REFERENCES users (id),
	trial      text NOT NULL,
	site       text NOT NULL,
	added_us   integer NOT NULL,
	added_by   text NOT NULL,
	removed_us integer,
	removed_by text,
	CHECK ((removed_us IS NULL) = (removed_by IS NULL))
);
CREATE UNIQUE INDEX user_affiliations_live ON user_affiliations (user_id, trial, site) WHERE removed_us IS NULL;
CREATE INDEX user_affiliations_trial ON user_affiliations (trial, user_id);

CREATE TRIGGER user_affiliations_no_delete BEFORE DELETE ON user_affiliations
BEGIN SELECT RAISE(ABORT, 'affiliations are never deleted: remove instead'); END;
CREATE TRIGGER user_affiliations_remove_only BEFORE UPDATE ON user_affiliations
WHEN OLD.removed_us IS NOT NULL OR NEW.removed_us IS NULL
	OR NEW.id <> OLD.id OR NEW.user_id <> OLD.user_id OR NEW.trial <> OLD.trial OR NEW.site <> OLD.site
	OR NEW.added_us <> OLD.added_us OR NEW.added_by <> OLD.added_by
BEGIN SELECT RAISE(ABORT, 'an affiliation may only be removed, once'); END;
