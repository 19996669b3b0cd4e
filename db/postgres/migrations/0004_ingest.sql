-- Submissions, de-identified instances and QC results (package ingest);
-- see the SQLite migration of the same number for the meaning of every
-- column. Regulated: each table carries the deferred audit constraint
-- trigger, and guards that keep rows immutable except for their state.
CREATE TABLE submissions (
	id              text PRIMARY KEY,
	trial_id        text NOT NULL REFERENCES trials (id),
	trial_version   integer NOT NULL,
	site            text NOT NULL,
	subject         text NOT NULL,
	visit           text NOT NULL,
	status          text NOT NULL CHECK (status IN ('open', 'completed', 'queried', 'accepted', 'rejected')),
	qc_run          integer NOT NULL DEFAULT 0,
	created_us      bigint NOT NULL,
	created_by      text NOT NULL,
	updated_us      bigint NOT NULL,
	decision_reason text NOT NULL DEFAULT ''
);
CREATE INDEX submissions_trial ON submissions (trial_id, site, subject, visit);
-- At most one submission per subject's visit takes uploads at a time.
CREATE UNIQUE INDEX submissions_one_open ON submissions (trial_id, site, subject, visit)
	WHERE status IN ('open', 'queried');

CREATE TABLE instances (
	trial_id           text NOT NULL REFERENCES trials (id),
	sop_uid            text NOT NULL,
	submission_id      text NOT NULL REFERENCES submissions (id),
	study_uid          text NOT NULL,
	series_uid         text NOT NULL,
	sop_class_uid      text NOT NULL,
	modality           text NOT NULL,
	series_description text NOT NULL,
	frame_of_reference text NOT NULL,
	instance_number    integer,
	transfer_syntax    text NOT NULL,
	original_sha256    text NOT NULL CHECK (length(original_sha256) = 64),
	original_size      bigint NOT NULL,
	original_key       text,
	object_sha256      text NOT NULL CHECK (length(object_sha256) = 64),
	object_size        bigint NOT NULL,
	status             text NOT NULL CHECK (status IN ('released', 'held', 'rejected')),
	hold_reason        text NOT NULL DEFAULT '',
	metadata           bytea NOT NULL,
	received_us        bigint NOT NULL,
	received_by        text NOT NULL,
	PRIMARY KEY (trial_id, sop_uid)
);
CREATE UNIQUE INDEX instances_original ON instances (trial_id, original_sha256);
CREATE INDEX instances_submission ON instances (submission_id);
CREATE INDEX instances_study ON instances (trial_id, study_uid, series_uid);

CREATE TABLE qc_results (
	submission_id text NOT NULL REFERENCES submissions (id),
	run           integer NOT NULL,
	idx           integer NOT NULL,
	sop_uid       text NOT NULL,
	level         text NOT NULL,
	rule          text NOT NULL,
	kind          text NOT NULL,
	subject       text NOT NULL,
	outcome       text NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail')),
	seen          text NOT NULL,
	expected      text NOT NULL,
	evaluated_us  bigint NOT NULL,
	PRIMARY KEY (submission_id, run, sop_uid, idx)
);

CREATE FUNCTION tg_submissions_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'submissions are never deleted' USING ERRCODE = 'TGA02';
	END IF;
	IF NEW.id <> OLD.id OR NEW.trial_id <> OLD.trial_id OR NEW.trial_version <> OLD.trial_version
		OR NEW.site <> OLD.site OR NEW.subject <> OLD.subject OR NEW.visit <> OLD.visit
		OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
		OR OLD.status IN ('accepted', 'rejected') OR NEW.qc_run < OLD.qc_run THEN
		RAISE EXCEPTION 'a submission''s identity is fixed and a decided submission is final' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER submissions_guard BEFORE UPDATE OR DELETE ON submissions
	FOR EACH ROW EXECUTE FUNCTION tg_submissions_guard();

CREATE FUNCTION tg_instances_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'instances are never deleted' USING ERRCODE = 'TGA02';
	END IF;
	IF OLD.status <> 'held' OR NEW.status NOT IN ('released', 'rejected')
		OR NEW.trial_id <> OLD.trial_id OR NEW.sop_uid <> OLD.sop_uid OR NEW.submission_id <> OLD.submission_id
		OR NEW.object_sha256 <> OLD.object_sha256 OR NEW.original_sha256 <> OLD.original_sha256
		OR NEW.metadata <> OLD.metadata OR NEW.received_us <> OLD.received_us OR NEW.received_by <> OLD.received_by THEN
		RAISE EXCEPTION 'a stored instance is never changed; only a held one is released or rejected, once' USING ERRCODE = 'TGA02';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER instances_guard BEFORE UPDATE OR DELETE ON instances
	FOR EACH ROW EXECUTE FUNCTION tg_instances_guard();

CREATE FUNCTION tg_qc_results_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'QC results are never changed or deleted' USING ERRCODE = 'TGA02';
END $$;
CREATE TRIGGER qc_results_guard BEFORE UPDATE OR DELETE ON qc_results
	FOR EACH ROW EXECUTE FUNCTION tg_qc_results_guard();

CREATE TRIGGER submissions_no_truncate BEFORE TRUNCATE ON submissions
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER instances_no_truncate BEFORE TRUNCATE ON instances
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();
CREATE TRIGGER qc_results_no_truncate BEFORE TRUNCATE ON qc_results
	FOR EACH STATEMENT EXECUTE FUNCTION tg_refuse_audit_change();

CREATE CONSTRAINT TRIGGER submissions_audited AFTER INSERT OR UPDATE OR DELETE ON submissions
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER instances_audited AFTER INSERT OR UPDATE OR DELETE ON instances
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE CONSTRAINT TRIGGER qc_results_audited AFTER INSERT OR UPDATE OR DELETE ON qc_results
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
