package ingest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/qc"
	"github.com/trialgate/trialgate/trial"
)

// Submission states.
const (
	StatusOpen      = "open"      // uploads accepted
	StatusCompleted = "completed" // closed by the site; series/visit QC ran
	StatusQueried   = "queried"   // sent back to the site: uploads accepted again
	StatusAccepted  = "accepted"  // final
	StatusRejected  = "rejected"  // final
)

// QC decisions a QC reviewer takes on a completed submission.
const (
	DecisionAccept = "accept"
	DecisionReject = "reject"
	DecisionQuery  = "query"
)

// MaxReason bounds a decision reason, in bytes.
const MaxReason = 2000

// Submission is one subject's visit at one site.
type Submission struct {
	ID           string
	Trial        string
	TrialVersion int // the approved definition whose rules apply
	Site         string
	Subject      string
	Visit        string
	Status       string
	QCRun        int // completions so far
	Created      time.Time
	CreatedBy    string
	Updated      time.Time
	Reason       string // of the last QC decision
}

// uploadable reports whether instances may be added.
func (s *Submission) uploadable() bool { return s.Status == StatusOpen || s.Status == StatusQueried }

// scope is what a change to the submission touches: its subject's visit.
func (s *Submission) scope() db.Scope {
	return db.Scope{Trial: s.Trial, Site: s.Site, Subject: s.Subject, Visit: s.Visit}
}

// Instance is a stored, de-identified instance as the submission view
// lists it.
type Instance struct {
	SOPInstanceUID    string    `json:"sop_instance_uid"`
	SOPClassUID       string    `json:"sop_class_uid"`
	StudyInstanceUID  string    `json:"study_instance_uid"`
	SeriesInstanceUID string    `json:"series_instance_uid"`
	Modality          string    `json:"modality"`
	InstanceNumber    *int      `json:"instance_number"`
	Status            string    `json:"status"`
	HoldReason        string    `json:"hold_reason,omitempty"`
	ObjectSHA256      string    `json:"object_sha256"`
	ObjectSize        int64     `json:"object_size"`
	OriginalSHA256    string    `json:"original_sha256"`
	OriginalSize      int64     `json:"original_size"`
	TransferSyntax    string    `json:"transfer_syntax"`
	Received          time.Time `json:"received_at"`
}

// QCResult is a stored QC outcome: the run it belongs to (0 for instance
// rules evaluated at upload) and the rule's result.
type QCResult struct {
	Run int `json:"run"`
	qc.Result
}

// View is a submission with its instances and QC results.
type View struct {
	Submission
	Instances []Instance
	QC        []QCResult
}

const (
	submissionColumns = `id, trial_id, trial_version, site, subject, visit, status, qc_run, created_us, created_by, updated_us, decision_reason`
	selectSubmission  = `SELECT ` + submissionColumns + ` FROM submissions WHERE id = $1`
	selectOpenFor     = `SELECT ` + submissionColumns + ` FROM submissions
		WHERE trial_id = $1 AND site = $2 AND subject = $3 AND visit = $4 AND status IN ('open', 'queried')
		ORDER BY created_us LIMIT 1`
	insertSubmission = `INSERT INTO submissions (` + submissionColumns + `) VALUES ($1, $2, $3, $4, $5, $6, 'open', 0, $7, $8, $7, '')`
	// touchUploadable both checks that a submission accepts uploads and
	// takes its row lock (PostgreSQL), so a completion cannot interleave
	// with an upload's commit.
	touchUploadable = `UPDATE submissions SET updated_us = $2 WHERE id = $1 AND status IN ('open', 'queried')`
	completeSub     = `UPDATE submissions SET status = 'completed', qc_run = $2, updated_us = $3
		WHERE id = $1 AND status IN ('open', 'queried') AND qc_run = $4`
	decideSub = `UPDATE submissions SET status = $2, decision_reason = $3, updated_us = $4
		WHERE id = $1 AND status = 'completed'`
	instanceColumns = `sop_uid, sop_class_uid, study_uid, series_uid, modality, instance_number, status, hold_reason,
		object_sha256, object_size, original_sha256, original_size, transfer_syntax, received_us`
	selectInstances = `SELECT ` + instanceColumns + ` FROM instances WHERE submission_id = $1 ORDER BY series_uid, instance_number, sop_uid`
	selectSummaries = `SELECT sop_uid, sop_class_uid, series_uid, modality, series_description, frame_of_reference,
		instance_number, original_sha256 FROM instances WHERE submission_id = $1 AND status <> 'rejected'`
	selectQC = `SELECT run, level, rule, kind, subject, outcome, seen, expected FROM qc_results
		WHERE submission_id = $1 ORDER BY run, sop_uid, idx`
	insertQC = `INSERT INTO qc_results (submission_id, run, idx, sop_uid, level, rule, kind, subject, outcome, seen, expected, evaluated_us)`
)

// row is what Scan reads from.
type row interface{ Scan(...any) error }

func scanSubmission(r row) (Submission, error) {
	var s Submission
	var created, updated int64
	err := r.Scan(&s.ID, &s.Trial, &s.TrialVersion, &s.Site, &s.Subject, &s.Visit, &s.Status, &s.QCRun,
		&created, &s.CreatedBy, &updated, &s.Reason)
	s.Created, s.Updated = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return s, err
}

// newID returns a random submission id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return "sub-" + hex.EncodeToString(b[:])
}

func submissionObject(id string) audit.Object { return audit.Object{Type: "submission", ID: id} }

// submissionRecord is what the trail records about a submission.
type submissionRecord struct {
	Site         string `json:"site"`
	Subject      string `json:"subject"`
	Visit        string `json:"visit"`
	TrialVersion int    `json:"trial_version"`
	Status       string `json:"status"`
}

// CreateSubmission opens a submission for a subject's visit at a site, by
// a site uploader of that site. The subject code is the trial's own (it
// replaces the patient's identity in every de-identified object), so it
// must not look like anything else: 1-64 of A-Z a-z 0-9 . _ -.
func (s *Service) CreateSubmission(ctx context.Context, p *auth.Principal, trialID, site, subject, visit string) (Submission, error) {
	if !trialgate.ValidID(site) {
		return Submission{}, trialgate.Errorf(trialgate.EInvalid, "site: %q is not a valid site id", site)
	}
	if _, err := auth.Require(ctx, s.db, p, db.Scope{Trial: trialID, Site: site}, audit.Object{Type: "trial", ID: trialID},
		fmt.Sprintf("only a site uploader of site %q may create its submissions", site), auth.SiteUploader); err != nil {
		return Submission{}, err
	}
	tr, err := s.trialConfig(ctx, trialID)
	if err != nil {
		return Submission{}, err
	}
	if err := tr.checkPlace(site, subject, visit); err != nil {
		return Submission{}, err
	}
	var sub Submission
	scope := db.Scope{Trial: trialID, Site: site, Subject: subject, Visit: visit}
	err = s.db.Write(ctx, p.Actor(auth.SiteUploader), scope, func(tx *db.Tx) error {
		var err error
		sub, err = s.openSubmission(ctx, tx, tr, site, subject, visit)
		return err
	})
	if errors.Is(err, db.ErrDuplicate) {
		return Submission{}, trialgate.Wrap(err, trialgate.EConflict,
			fmt.Sprintf("subject %s already has an open submission for visit %s at site %s", subject, visit, site))
	}
	return sub, err
}

// openSubmission inserts a new open submission, audited; tx is in the
// scope of the subject's visit.
func (s *Service) openSubmission(ctx context.Context, tx *db.Tx, tr *trialConfig, site, subject, visit string) (Submission, error) {
	now := s.clock()
	sub := Submission{ID: newID(), Trial: tr.id, TrialVersion: tr.version, Site: site, Subject: subject, Visit: visit,
		Status: StatusOpen, Created: now.UTC().Truncate(time.Microsecond), CreatedBy: tx.Actor().ID}
	sub.Updated = sub.Created
	if _, err := tx.Exec(ctx, insertSubmission, sub.ID, sub.Trial, sub.TrialVersion, site, subject, visit,
		now.UnixMicro(), sub.CreatedBy); err != nil {
		return Submission{}, fmt.Errorf("ingest: insert submission: %w", err)
	}
	err := tx.Audit(audit.Event{
		Action: audit.ActionSubmissionCreated, Object: submissionObject(sub.ID),
		After: submissionRecord{Site: site, Subject: subject, Visit: visit, TrialVersion: tr.version, Status: StatusOpen},
	})
	return sub, err
}

// Submission returns a submission with its instances and QC results, for
// a caller who may see it: its site's uploaders, and the trial's QC
// reviewers, data managers, QA reviewers and inspectors. The view is a
// read of regulated data, recorded (submission.viewed) before it is
// returned.
func (s *Service) Submission(ctx context.Context, p *auth.Principal, id string) (View, error) {
	sub, err := s.submission(ctx, id)
	if err != nil {
		return View{}, err
	}
	role, err := auth.Require(ctx, s.db, p, sub.scope(), submissionObject(id), "this submission is not in your trial or site",
		auth.SiteUploader, auth.QCReviewer, auth.DataManager, auth.QAReviewer, auth.Inspector)
	if err != nil {
		return View{}, err
	}
	v, err := s.view(ctx, id)
	if err != nil {
		return View{}, err
	}
	err = s.db.Record(ctx, p.Actor(role), sub.scope(), audit.Event{Action: audit.ActionSubmissionViewed, Object: submissionObject(id),
		After: map[string]any{"status": v.Status, "instances": len(v.Instances), "qc_results": len(v.QC)}})
	if err != nil {
		return View{}, err
	}
	return v, nil
}

// view reads a submission with its instances and QC results; the changes
// that return it (complete, decide, review) are audited themselves.
func (s *Service) view(ctx context.Context, id string) (View, error) {
	var v View
	var err error
	if v.Submission, err = s.submission(ctx, id); err != nil {
		return View{}, err
	}
	err = s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, selectInstances, id)
		if err != nil {
			return fmt.Errorf("ingest: read instances: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var in Instance
			var num sql.NullInt64
			var received int64
			if err := rows.Scan(&in.SOPInstanceUID, &in.SOPClassUID, &in.StudyInstanceUID, &in.SeriesInstanceUID,
				&in.Modality, &num, &in.Status, &in.HoldReason, &in.ObjectSHA256, &in.ObjectSize,
				&in.OriginalSHA256, &in.OriginalSize, &in.TransferSyntax, &received); err != nil {
				return fmt.Errorf("ingest: read instance: %w", err)
			}
			if num.Valid {
				n := int(num.Int64)
				in.InstanceNumber = &n
			}
			in.Received = time.UnixMicro(received).UTC()
			v.Instances = append(v.Instances, in)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("ingest: read instances: %w", err)
		}
		rows.Close()
		qrows, err := r.Query(ctx, selectQC, id)
		if err != nil {
			return fmt.Errorf("ingest: read QC results: %w", err)
		}
		defer qrows.Close()
		for qrows.Next() {
			var q QCResult
			if err := qrows.Scan(&q.Run, &q.Level, &q.Rule, &q.Kind, &q.Subject, &q.Outcome, &q.Seen, &q.Expected); err != nil {
				return fmt.Errorf("ingest: read QC result: %w", err)
			}
			v.QC = append(v.QC, q)
		}
		return qrows.Err()
	})
	return v, err
}

// Complete closes a submission for upload and evaluates the series and
// visit QC rules over its instances, by a site uploader of its site.
func (s *Service) Complete(ctx context.Context, p *auth.Principal, id string) (View, error) {
	sub, err := s.submission(ctx, id)
	if err != nil {
		return View{}, err
	}
	if _, err := auth.Require(ctx, s.db, p, sub.scope(), submissionObject(id),
		"only a site uploader of the submission's site may complete it", auth.SiteUploader); err != nil {
		return View{}, err
	}
	tr, err := s.trialVersion(ctx, sub.Trial, sub.TrialVersion)
	if err != nil {
		return View{}, err
	}
	err = s.db.Write(ctx, p.Actor(auth.SiteUploader), sub.scope(), func(tx *db.Tx) error {
		// Re-read inside the transaction: the state decides.
		cur, err := scanSubmission(tx.QueryRow(ctx, selectSubmission, id))
		if err != nil {
			return fmt.Errorf("ingest: read submission: %w", err)
		}
		if !cur.uploadable() {
			return trialgate.Errorf(trialgate.EConflict, "submission %s is %s, not open", id, cur.Status)
		}
		sums, err := summaries(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(sums) == 0 {
			return trialgate.Errorf(trialgate.EConflict, "submission %s has no instances to complete", id)
		}
		results := qc.Submission(tr.def.QC.Rules, cur.Visit, sums)
		run := cur.QCRun + 1
		now := s.clock()
		n, err := tx.Exec(ctx, completeSub, id, run, now.UnixMicro(), cur.QCRun)
		if err != nil {
			return fmt.Errorf("ingest: complete submission: %w", err)
		}
		if n != 1 {
			return trialgate.Errorf(trialgate.EConflict, "submission %s changed while completing; retry", id)
		}
		if err := insertResults(ctx, tx, id, run, "", results, now); err != nil {
			return err
		}
		obj := submissionObject(id)
		if err := tx.Audit(audit.Event{Action: audit.ActionSubmissionCompleted, Object: obj,
			Before: map[string]string{"status": cur.Status},
			After:  map[string]any{"status": StatusCompleted, "qc_run": run, "instances": len(sums)}}); err != nil {
			return err
		}
		return tx.Audit(audit.Event{Action: audit.ActionQCEvaluated, Object: obj, After: qcSummary(run, results)})
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, id)
}

// summaries reads what the series and visit rules need of a submission's
// instances (rejected ones excluded).
func summaries(ctx context.Context, tx *db.Tx, id string) ([]qc.Summary, error) {
	rows, err := tx.Query(ctx, selectSummaries, id)
	if err != nil {
		return nil, fmt.Errorf("ingest: read instances: %w", err)
	}
	defer rows.Close()
	var out []qc.Summary
	for rows.Next() {
		var q qc.Summary
		var num sql.NullInt64
		if err := rows.Scan(&q.SOPInstanceUID, &q.SOPClassUID, &q.SeriesInstanceUID, &q.Modality, &q.SeriesDescription,
			&q.FrameOfReferenceUID, &num, &q.OriginalSHA256); err != nil {
			return nil, fmt.Errorf("ingest: read instance: %w", err)
		}
		if num.Valid {
			n := int(num.Int64)
			q.InstanceNumber = &n
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// insertResults stores QC results of one run (sop "" for series and visit
// results).
func insertResults(ctx context.Context, tx *db.Tx, id string, run int, sop string, results []qc.Result, now time.Time) error {
	rows := make([][]any, len(results))
	for i, r := range results {
		rows[i] = []any{id, run, i, sop, string(r.Level), r.Rule, r.Kind, r.Subject,
			string(r.Outcome), r.Seen, r.Expected, now.UnixMicro()}
	}
	if err := tx.InsertRows(ctx, insertQC, rows); err != nil {
		return fmt.Errorf("ingest: insert QC results: %w", err)
	}
	return nil
}

// qcSummary is what the trail records about a QC evaluation: the worst
// outcome, counts, and the rules that did not pass.
func qcSummary(run int, results []qc.Result) map[string]any {
	counts := map[qc.Outcome]int{}
	var findings []string
	for _, r := range results {
		counts[r.Outcome]++
		if r.Outcome != qc.Pass {
			findings = append(findings, fmt.Sprintf("%s %s: %s", r.Outcome, r.Rule, r.Seen))
		}
	}
	out := map[string]any{"run": run, "outcome": qc.Worst(results), "pass": counts[qc.Pass], "warn": counts[qc.Warn],
		"fail": counts[qc.Fail]}
	if len(findings) > 0 {
		out["findings"] = findings
	}
	return out
}

// Decide records a QC reviewer's decision on a completed submission:
// accept or reject (final), or query (back to the site for more uploads),
// always with a reason.
func (s *Service) Decide(ctx context.Context, p *auth.Principal, id, decision, reason string) (View, error) {
	sub, err := s.submission(ctx, id)
	if err != nil {
		return View{}, err
	}
	if _, err := auth.Require(ctx, s.db, p, sub.scope(), submissionObject(id),
		"only a QC reviewer of the trial may decide on a submission", auth.QCReviewer); err != nil {
		return View{}, err
	}
	status, ok := map[string]string{DecisionAccept: StatusAccepted, DecisionReject: StatusRejected, DecisionQuery: StatusQueried}[decision]
	if !ok {
		return View{}, trialgate.Errorf(trialgate.EInvalid, "decision: %q must be one of accept, reject, query", decision)
	}
	if reason, err = checkReason(reason); err != nil {
		return View{}, err
	}
	err = s.db.Write(ctx, p.Actor(auth.QCReviewer), sub.scope(), func(tx *db.Tx) error {
		n, err := tx.Exec(ctx, decideSub, id, status, reason, s.clock().UnixMicro())
		if err != nil {
			return fmt.Errorf("ingest: decide: %w", err)
		}
		if n != 1 {
			cur, err := scanSubmission(tx.QueryRow(ctx, selectSubmission, id))
			if err != nil {
				return fmt.Errorf("ingest: read submission: %w", err)
			}
			return trialgate.Errorf(trialgate.EConflict, "submission %s is %s; only a completed submission takes a QC decision", id, cur.Status)
		}
		return tx.Audit(audit.Event{Action: audit.ActionQCDecided, Object: submissionObject(id),
			Before: map[string]string{"status": StatusCompleted},
			After:  map[string]string{"status": status, "decision": decision}, Reason: reason})
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, id)
}

// checkReason trims a decision's reason and checks that it is given and
// not too long.
func checkReason(reason string) (string, error) {
	switch reason = strings.TrimSpace(reason); {
	case reason == "":
		return "", trialgate.Errorf(trialgate.EInvalid, "reason: required")
	case len(reason) > MaxReason:
		return "", trialgate.Errorf(trialgate.EInvalid, "reason: longer than %d bytes", MaxReason)
	}
	return reason, nil
}

// submission reads one submission.
func (s *Service) submission(ctx context.Context, id string) (Submission, error) {
	var sub Submission
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		sub, err = scanSubmission(r.QueryRow(ctx, selectSubmission, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return trialgate.Errorf(trialgate.ENotFound, "no submission %q", id)
		case err != nil:
			return fmt.Errorf("ingest: read submission: %w", err)
		}
		return nil
	})
	return sub, err
}

// checkPlace checks a site, subject code and visit against the definition.
func (t *trialConfig) checkPlace(site, subject, visit string) error {
	switch {
	case !slices.ContainsFunc(t.def.Sites, func(x trial.Site) bool { return x.ID == site }):
		return trialgate.Errorf(trialgate.EInvalid, "site: %q is not a site of trial %s", site, t.id)
	case !slices.ContainsFunc(t.def.Visits, func(x trial.Visit) bool { return x.ID == visit }):
		return trialgate.Errorf(trialgate.EInvalid, "visit: %q is not a visit of trial %s", visit, t.id)
	case !trialgate.ValidID(subject):
		return trialgate.Errorf(trialgate.EInvalid, "subject: %q must be 1-64 of A-Z a-z 0-9 . _ -", subject)
	}
	return nil
}

// WorstOf returns the worst outcome among stored results.
func WorstOf(results []QCResult) qc.Outcome {
	rs := make([]qc.Result, len(results))
	for i, r := range results {
		rs[i] = r.Result
	}
	return qc.Worst(rs)
}

// Review decisions on an instance held for burned-in text review.
const (
	ReviewRelease = "release"
	ReviewReject  = "reject"
)

const reviewInstance = `UPDATE instances SET status = $4 WHERE trial_id = $1 AND sop_uid = $2 AND submission_id = $3 AND status = 'held'`

// Review records a QC reviewer's decision on an instance held for
// burned-in text review: release it to the trial, or reject it (it stays
// stored, never released), always with a reason.
func (s *Service) Review(ctx context.Context, p *auth.Principal, id, sop, decision, reason string) (View, error) {
	sub, err := s.submission(ctx, id)
	if err != nil {
		return View{}, err
	}
	if _, err := auth.Require(ctx, s.db, p, sub.scope(), submissionObject(id),
		"only a QC reviewer of the trial may review held instances", auth.QCReviewer); err != nil {
		return View{}, err
	}
	status, ok := map[string]string{ReviewRelease: "released", ReviewReject: "rejected"}[decision]
	if !ok {
		return View{}, trialgate.Errorf(trialgate.EInvalid, "decision: %q must be one of release, reject", decision)
	}
	if reason, err = checkReason(reason); err != nil {
		return View{}, err
	}
	err = s.db.Write(ctx, p.Actor(auth.QCReviewer), sub.scope(), func(tx *db.Tx) error {
		n, err := tx.Exec(ctx, reviewInstance, sub.Trial, sop, id, status)
		if err != nil {
			return fmt.Errorf("ingest: review instance: %w", err)
		}
		if n != 1 {
			return trialgate.Errorf(trialgate.EConflict, "instance %s of submission %s is not held for review", sop, id)
		}
		return tx.Audit(audit.Event{Action: audit.ActionInstanceReviewed, Object: audit.Object{Type: "instance", ID: sop},
			Before: map[string]string{"status": "held"},
			After:  map[string]string{"status": status, "decision": decision}, Reason: reason})
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, id)
}
