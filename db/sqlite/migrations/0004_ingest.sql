-- Submissions and de-identified instances (package ingest). Regulated:
-- every change is made through db.Write with its audit entry. Rows are
-- never deleted; only the state columns named in the guards change.
-- Times are microseconds since the Unix epoch, UTC.
--
-- A submission is one subject's visit at one site, uploaded by its site;
-- trial_version is the approved definition whose de-identification and QC
-- rules apply. status: open (uploads accepted), completed (series/visit QC
-- ran), queried (sent back to the site: uploads accepted again), accepted,
-- rejected (both final).
CREATE TABLE submissions (
	id            text PRIMARY KEY,
	trial_id      text NOT NULL REFERENCES trials (id),
	trial_version integer NOT NULL,
	site          text NOT NULL,
	subject       text NOT NULL,
	visit         text NOT NULL,
	status        text NOT NULL CHECK (status IN ('open', 'completed', 'queried', 'accepted', 'rejected')),
	qc_run        integer NOT NULL DEFAULT 0,
	created_us    integer NOT NULL,
	created_by    text NOT NULL,
	updated_us    integer NOT NULL,
	decision_reason text NOT NULL DEFAULT ''
);
CREATE INDEX submissions_trial ON submissions (trial_id, site, subject, visit);
-- At most one submission per subject's visit takes uploads at a time.
CREATE UNIQUE INDEX submissions_one_open ON submissions (trial_id, site, subject, visit)
	WHERE status IN ('open', 'queried');

-- One de-identified instance. sop_uid, study_uid and series_uid are the
-- de-identified UIDs; the original's only traces are original_sha256 and
-- original_size (proof of receipt) and, where the trial keeps originals,
-- original_key in the restricted store. status: released (visible to the
-- trial's QC view), held (quarantined for burned-in text review) or, after
-- that review, rejected. Only a held instance's status ever changes.
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
	original_size      integer NOT NULL,
	original_key       text,
	object_sha256      text NOT NULL CHECK (length(object_sha256) = 64),
	object_size        integer NOT NULL,
	status             text NOT NULL CHECK (status IN ('released', 'held', 'rejected')),
	hold_reason        text NOT NULL DEFAULT '',
	metadata           blob NOT NULL,
	received_us        integer NOT NULL,
	received_by        text NOT NULL,
	PRIMARY KEY (trial_id, sop_uid)
);
CREATE UNIQUE INDEX instances_original ON instances (trial_id, original_sha256);
CREATE INDEX instances_submission ON instances (submission_id);
CREATE INDEX instances_study ON instances (trial_id, study_uid, series_uid);

-- QC results, one row per rule outcome. run 0 holds the instance-level
-- results written with each instance; run n >= 1 the series and visit
-- results of the submission's n-th completion.
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
	evaluated_us  integer NOT NULL,
	PRIMARY KEY (submission_id, run, sop_uid, idx)
);

CREATE TRIGGER submissions_no_delete BEFORE DELETE ON submissions
BEGIN SELECT RAISE(ABORT, 'submissions are never deleted'); END;
CREATE TRIGGER submissions_fixed BEFORE UPDATE ON submissions
WHEN NEW.id <> OLD.id OR NEW.trial_id <> OLD.trial_id OR NEW.trial_version <> OLD.trial_version
	OR NEW.site <> OLD.site OR NEW.subject <> OLD.subject OR NEW.visit <> OLD.visit
	OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
	OR OLD.status IN ('accepted', 'rejected') OR NEW.qc_run < OLD.qc_run
BEGIN SELECT RAISE(ABORT, 'a submission''s identity is fixed and a decided submission is final'); END;
CREATE TRIGGER instances_no_delete BEFORE DELETE ON instances
BEGIN SELECT RAISE(ABORT, 'instances are never deleted'); END;
CREATE TRIGGER instances_fixed BEFORE UPDATE ON instances
WHEN OLD.status <> 'held' OR NEW.status NOT IN ('released', 'rejected')
	OR NEW.trial_id <> OLD.trial_id OR NEW.sop_uid <> OLD.sop_uid OR NEW.submission_id <> OLD.submission_id
	OR NEW.object_sha256 <> OLD.object_sha256 OR NEW.original_sha256 <> OLD.original_sha256
	OR NEW.metadata <> OLD.metadata OR NEW.received_us <> OLD.received_us OR NEW.received_by <> OLD.received_by
BEGIN SELECT RAISE(ABORT, 'a stored instance is never changed; only a held one is released or rejected, once'); END;
CREATE TRIGGER qc_results_no_delete BEFORE DELETE ON qc_results
BEGIN SELECT RAISE(ABORT, 'QC results are never deleted'); END;
CREATE TRIGGER qc_results_no_update BEFORE UPDATE ON qc_results
BEGIN SELECT RAISE(ABORT, 'QC results are never changed'); END;
