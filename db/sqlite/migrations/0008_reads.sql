-- Blinded central reads (package reads). Regulated: every change is made
-- through db.Write with its audit entry. Rows are never deleted; guards
-- keep what identifies a row fixed. Times are microseconds since the Unix
-- epoch, UTC.
--
-- A case is what one read covers: one accepted visit of a subject (visit
-- cases) or every visit of a subject in visit order (subject cases, visit
-- ''). code is its random case code, the only name a reader sees;
-- shift_days moves the dates the reader sees when the design shifts them.
-- status: reading (reads under way), adjudication_pending (discordant, no
-- eligible adjudicator yet), adjudicating, complete (outcome settled).
-- outcome_*: the read that settles the case (its task and version) and
-- how: single, concordant, adjudicated.
CREATE TABLE read_cases (
	id              text PRIMARY KEY NOT NULL,
	trial_id        text NOT NULL REFERENCES trials (id),
	code            text NOT NULL,
	trial_version   integer NOT NULL,
	site            text NOT NULL,
	subject         text NOT NULL,
	visit           text NOT NULL,
	shift_days      integer NOT NULL,
	status          text NOT NULL CHECK (status IN ('reading', 'adjudication_pending', 'adjudicating', 'complete')),
	outcome_source  text NOT NULL DEFAULT '' CHECK (outcome_source IN ('', 'single', 'concordant', 'adjudicated')),
	outcome_task    text NOT NULL DEFAULT '',
	outcome_version integer NOT NULL DEFAULT 0,
	created_us      integer NOT NULL,
	created_by      text NOT NULL,
	updated_us      integer NOT NULL,
	UNIQUE (trial_id, code),
	UNIQUE (trial_id, site, subject, visit)
);

-- The time points of a case, in reading order: idx 1 is the first. label is
-- what the reader is shown ("baseline", "follow-up 1"), whatever the
-- design's blinding then lets through.
CREATE TABLE read_case_timepoints (
	case_id       text NOT NULL REFERENCES read_cases (id),
	idx           integer NOT NULL,
	submission_id text NOT NULL REFERENCES submissions (id),
	visit         text NOT NULL,
	label         text NOT NULL,
	PRIMARY KEY (case_id, idx),
	UNIQUE (submission_id)
);

-- A read task: reader_id reads (kind read, slot 1 or 2: "Reader 1",
-- "Reader 2") or adjudicates (kind adjudication, slot 3) a case.
-- status: assigned (untouched: may be reassigned), draft (a draft saved),
-- signed (version holds the latest signed version), amending (a change to
-- a signed read is drafted, with its reason). draft is the draft's result
-- JSON ('' when none), draft_reason its reason.
CREATE TABLE read_tasks (
	id           text PRIMARY KEY NOT NULL,
	trial_id     text NOT NULL REFERENCES trials (id),
	case_id      text NOT NULL REFERENCES read_cases (id),
	kind         text NOT NULL CHECK (kind IN ('read', 'adjudication')),
	slot         integer NOT NULL CHECK (slot IN (1, 2, 3)),
	reader_id    text NOT NULL REFERENCES users (id),
	status       text NOT NULL CHECK (status IN ('assigned', 'draft', 'signed', 'amending')),
	version      integer NOT NULL DEFAULT 0,
	draft        text NOT NULL DEFAULT '',
	draft_reason text NOT NULL DEFAULT '',
	assigned_us  integer NOT NULL,
	assigned_by  text NOT NULL,
	updated_us   integer NOT NULL,
	UNIQUE (case_id, slot),
	CHECK ((kind = 'read') = (slot IN (1, 2)))
);
CREATE INDEX read_tasks_reader ON read_tasks (reader_id, trial_id);
CREATE INDEX read_tasks_trial ON read_tasks (trial_id, case_id);

-- A signed version of a read: record is the exact bytes that were signed
-- (JSON: task, case, version, result, reason, adjudication choice), and
-- record_sha256 their hash, as in the signature. Never changed.
CREATE TABLE read_versions (
	task_id       text NOT NULL REFERENCES read_tasks (id),
	version       integer NOT NULL CHECK (version >= 1),
	trial_id      text NOT NULL REFERENCES trials (id),
	case_id       text NOT NULL REFERENCES read_cases (id),
	record        text NOT NULL,
	record_sha256 text NOT NULL CHECK (length(record_sha256) = 64),
	choice        text NOT NULL DEFAULT '',
	reason        text NOT NULL DEFAULT '',
	signer_id     text NOT NULL,
	signer_name   text NOT NULL,
	meaning       text NOT NULL,
	signed_us     integer NOT NULL,
	PRIMARY KEY (task_id, version)
);
CREATE INDEX read_versions_trial ON read_versions (trial_id, case_id);

-- The release of a trial's read results to its data managers, QC
-- reviewers and site users, by electronic signature. Once, final.
CREATE TABLE read_releases (
	trial_id      text PRIMARY KEY NOT NULL REFERENCES trials (id),
	reason        text NOT NULL,
	record_sha256 text NOT NULL,
	signer_id     text NOT NULL,
	signer_name   text NOT NULL,
	meaning       text NOT NULL,
	released_us   integer NOT NULL
);

CREATE TRIGGER read_cases_no_delete BEFORE DELETE ON read_cases
BEGIN SELECT RAISE(ABORT, 'read cases are never deleted'); END;
CREATE TRIGGER read_cases_fixed BEFORE UPDATE ON read_cases
WHEN NEW.id <> OLD.id OR NEW.trial_id <> OLD.trial_id OR NEW.code <> OLD.code OR NEW.trial_version <> OLD.trial_version
	OR NEW.site <> OLD.site OR NEW.subject <> OLD.subject OR NEW.visit <> OLD.visit OR NEW.shift_days <> OLD.shift_days
	OR NEW.created_us <> OLD.created_us OR NEW.created_by <> OLD.created_by
BEGIN SELECT RAISE(ABORT, 'a read case''s identity and case code are fixed'); END;
CREATE TRIGGER read_case_timepoints_no_delete BEFORE DELETE ON read_case_timepoints
BEGIN SELECT RAISE(ABORT, 'read case time points are never deleted'); END;
CREATE TRIGGER read_case_timepoints_no_update BEFORE UPDATE ON read_case_timepoints
BEGIN SELECT RAISE(ABORT, 'read case time points are never changed'); END;
CREATE TRIGGER read_tasks_no_delete BEFORE DELETE ON read_tasks
BEGIN SELECT RAISE(ABORT, 'read tasks are never deleted'); END;
CREATE TRIGGER read_tasks_fixed BEFORE UPDATE ON read_tasks
WHEN NEW.id <> OLD.id OR NEW.trial_id <> OLD.trial_id OR NEW.case_id <> OLD.case_id OR NEW.kind <> OLD.kind
	OR NEW.slot <> OLD.slot OR NEW.version < OLD.version OR NEW.assigned_us <> OLD.assigned_us
	OR (NEW.reader_id <> OLD.reader_id AND OLD.status <> 'assigned')
BEGIN SELECT RAISE(ABORT, 'a read task''s identity is fixed, its versions only grow, and only an unstarted task changes reader'); END;
CREATE TRIGGER read_versions_no_delete BEFORE DELETE ON read_versions
BEGIN SELECT RAISE(ABORT, 'read versions are never deleted'); END;
CREATE TRIGGER read_versions_no_update BEFORE UPDATE ON read_versions
BEGIN SELECT RAISE(ABORT, 'read versions are never changed'); END;
CREATE TRIGGER read_releases_no_delete BEFORE DELETE ON read_releases
BEGIN SELECT RAISE(ABORT, 'read releases are never deleted'); END;
CREATE TRIGGER read_releases_no_update BEFORE UPDATE ON read_releases
BEGIN SELECT RAISE(ABORT, 'read releases are never changed'); END;
