package reads

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// Release is the release of a trial's read results.
type Release struct {
	Trial     string        `json:"trial"`
	Reason    string        `json:"reason"`
	Signature Manifestation `json:"signature"`
}

const (
	selectRelease = `SELECT reason, record_sha256, signer_name, meaning, released_us FROM read_releases WHERE trial_id = $1`
	insertRelease = `INSERT INTO read_releases (trial_id, reason, record_sha256, signer_id, signer_name, meaning, released_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
)

// released reads a trial's release, nil when its results are not released.
func (s *Service) released(ctx context.Context, q querier, trialID string) (*Release, error) {
	var r Release
	var us int64
	err := q.QueryRow(ctx, selectRelease, trialID).Scan(&r.Reason, &r.Signature.RecordSHA256, &r.Signature.Name,
		&r.Signature.Meaning, &us)
	switch {
	case isNoRows(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reads: read release: %w", err)
	}
	r.Trial = trialID
	r.Signature.Time = time.UnixMicro(us).UTC().Format(audit.TimeFormat)
	return &r, nil
}

// Release lets a trial's data managers and QC reviewers see its read
// results (until then only QA reviewers and inspectors may): a data
// manager's decision, e-signed (password, meaning approval), with a reason.
// It happens once.
func (s *Service) Release(ctx context.Context, p *auth.Principal, trialID, password, meaning, reason string) (*Release, error) {
	scope := db.TrialScope(trialID)
	obj := audit.Object{Type: "trial", ID: trialID}
	if _, err := auth.Require(ctx, s.db, p, scope, obj, "only a data manager of the trial may release its read results",
		auth.DataManager); err != nil {
		return nil, err
	}
	reason, err := checkReason(reason, "to release read results")
	if err != nil {
		return nil, err
	}
	if meaning != auth.MeaningApproval {
		return nil, trialgate.Errorf(trialgate.EInvalid, "meaning: a release is signed with meaning %s", auth.MeaningApproval)
	}
	var prior *Release
	if err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		prior, err = s.released(ctx, r, trialID)
		return err
	}); err != nil {
		return nil, err
	}
	if prior != nil {
		return nil, trialgate.Errorf(trialgate.EConflict, "the read results of trial %s were released on %s", trialID, prior.Signature.Time)
	}
	record, err := json.Marshal(struct {
		Trial  string `json:"trial"`
		Action string `json:"action"`
		Reason string `json:"reason"`
	}{trialID, "release read results", reason})
	if err != nil {
		return nil, err
	}
	sig, err := s.accounts.Sign(ctx, p, password, meaning, record)
	if err != nil {
		return nil, err
	}
	err = s.db.Write(ctx, p.Actor(auth.DataManager), scope, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, insertRelease, trialID, reason, sig.RecordSHA256, sig.Signer, sig.Name, sig.Meaning,
			s.now().UnixMicro()); err != nil {
			if trialgate.ErrorCode(err) == trialgate.EConflict {
				return trialgate.Errorf(trialgate.EConflict, "the read results of trial %s are already released", trialID)
			}
			return fmt.Errorf("reads: insert release: %w", err)
		}
		return tx.Audit(audit.Event{Action: audit.ActionReadsReleased, Object: obj,
			After: map[string]any{"released": true}, Reason: reason, Signature: &sig})
	})
	if err != nil {
		return nil, err
	}
	return &Release{Trial: trialID, Reason: reason, Signature: Manifestation{Name: sig.Name, Meaning: sig.Meaning,
		Time: sig.Time, RecordSHA256: sig.RecordSHA256}}, nil
}

// resultsAccess authorizes a view of a trial's read results: its QA
// reviewers and inspectors always; its data managers and QC reviewers once
// a data manager released them; nobody else (readers and adjudicators see
// their own tasks only; sites never see central reads). Refusals are
// recorded, naming the action.
func (s *Service) resultsAccess(ctx context.Context, p *auth.Principal, trialID string, action audit.Action) (auth.Role, error) {
	scope := db.TrialScope(trialID)
	obj := audit.Object{Type: "trial", ID: trialID}
	role, err := auth.Require(ctx, s.db, p, scope, obj,
		"only the trial's QA reviewers and inspectors, and once released its data managers and QC reviewers, may see read results",
		auth.QAReviewer, auth.Inspector, auth.DataManager, auth.QCReviewer)
	if err != nil {
		return "", err
	}
	if role == auth.QAReviewer || role == auth.Inspector {
		return role, nil
	}
	var rel *Release
	if err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		rel, err = s.released(ctx, r, trialID)
		return err
	}); err != nil {
		return "", err
	}
	if rel == nil {
		msg := fmt.Sprintf("the read results of trial %s are not released yet: a data manager releases them (POST /api/v1/trials/%s/reads/release)",
			trialID, trialID)
		if err := s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: audit.ActionAccessDenied, Object: obj,
			Outcome: audit.Denied, Reason: string(action) + ": " + msg}); err != nil {
			return "", err
		}
		return "", trialgate.Errorf(trialgate.EForbidden, "%s", msg)
	}
	return role, nil
}

// ExportLine is one signed version of a read or an adjudication, as the
// export writes it.
type ExportLine struct {
	Case          string        `json:"case"`
	Site          string        `json:"site"`
	Subject       string        `json:"subject"`
	Visit         string        `json:"visit,omitempty"` // "" for a subject case
	Visits        []string      `json:"visits"`          // the case's time points, in reading order
	CaseStatus    string        `json:"case_status"`
	Task          string        `json:"task"`
	Kind          string        `json:"kind"`
	Slot          int           `json:"slot"`
	Reader        string        `json:"reader"` // username
	Version       int           `json:"version"`
	Latest        bool          `json:"latest"`  // the task's latest version
	Outcome       bool          `json:"outcome"` // the version that settles the case
	OutcomeSource string        `json:"outcome_source,omitempty"`
	Choice        string        `json:"choice,omitempty"`
	Basis         []int         `json:"basis,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	Result        any           `json:"result"`
	Signature     Manifestation `json:"signature"`
}

// Export formats.
const (
	FormatJSON  = "json"
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

const selectExport = `SELECT c.id, c.code, c.site, c.subject, c.visit, c.status, c.outcome_source, c.outcome_task, c.outcome_version,
	t.id, t.kind, t.slot, t.version, u.username, v.version, v.record, v.record_sha256, v.choice, v.reason, v.signer_name, v.meaning, v.signed_us
	FROM read_versions v JOIN read_tasks t ON t.id = v.task_id JOIN read_cases c ON c.id = v.case_id JOIN users u ON u.id = t.reader_id
	WHERE v.trial_id = $1 ORDER BY c.code, t.slot, v.version`

const selectCaseVisits = `SELECT p.case_id, p.idx, p.visit FROM read_case_timepoints p JOIN read_cases c ON c.id = p.case_id
	WHERE c.trial_id = $1 ORDER BY p.case_id, p.idx`

// Export writes every signed version of every read and adjudication of a
// trial, with its signature manifestation and whether it settles its
// case, as JSON, JSON Lines or CSV, streamed as the rows are read. The
// export is recorded before its first byte.
func (s *Service) Export(ctx context.Context, p *auth.Principal, trialID, format string, w io.Writer) error {
	if format != FormatJSON && format != FormatJSONL && format != FormatCSV {
		return trialgate.Errorf(trialgate.EInvalid, "format: %q must be one of json, jsonl, csv", clip(format))
	}
	role, err := s.resultsAccess(ctx, p, trialID, audit.ActionReadsExported)
	if err != nil {
		return err
	}
	var rel *Release
	if err := s.db.Read(ctx, func(r *db.Reader) error {
		rel, err = s.released(ctx, r, trialID)
		return err
	}); err != nil {
		return err
	}
	if err := s.db.Record(ctx, p.Actor(role), db.TrialScope(trialID), audit.Event{Action: audit.ActionReadsExported,
		Object: audit.Object{Type: "trial", ID: trialID}, After: map[string]any{"format": format}}); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	out, err := newExportWriter(bw, format, trialID, rel)
	if err != nil {
		return err
	}
	err = s.db.Read(ctx, func(r *db.Reader) error {
		visits := map[string][]string{}
		if _, err := queryAll(ctx, r, selectCaseVisits, func(r row) (struct{}, error) {
			var id, visit string
			var idx int
			err := r.Scan(&id, &idx, &visit)
			if vs := visits[id]; len(vs) == 0 || vs[len(vs)-1] != visit {
				visits[id] = append(vs, visit)
			}
			return struct{}{}, err
		}, trialID); err != nil {
			return fmt.Errorf("reads: read time points: %w", err)
		}
		rows, err := r.Query(ctx, selectExport, trialID)
		if err != nil {
			return fmt.Errorf("reads: export: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var l ExportLine
			var caseID, outTask, record string
			var outVersion, taskVersion int
			var signed int64
			if err := rows.Scan(&caseID, &l.Case, &l.Site, &l.Subject, &l.Visit, &l.CaseStatus, &l.OutcomeSource, &outTask, &outVersion,
				&l.Task, &l.Kind, &l.Slot, &taskVersion, &l.Reader, &l.Version, &record, &l.Signature.RecordSHA256, &l.Choice,
				&l.Reason, &l.Signature.Name, &l.Signature.Meaning, &signed); err != nil {
				return fmt.Errorf("reads: export: %w", err)
			}
			rec, err := parseRecord([]byte(record))
			if err != nil {
				return err
			}
			l.Visits = visits[caseID]
			l.Basis = rec.Basis
			l.Result = present(rec.Result, l.Visit == "")
			l.Latest = l.Version == taskVersion
			l.Outcome = outTask == l.Task && outVersion == l.Version
			l.Signature.Time = time.UnixMicro(signed).UTC().Format(audit.TimeFormat)
			if err := out.write(&l); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	if err := out.close(); err != nil {
		return err
	}
	return bw.Flush()
}

// exportWriter writes export lines in one format.
type exportWriter struct {
	w      *bufio.Writer
	format string
	csv    *csv.Writer
	n      int
}

// csvHeader is the column layout of the CSV export.
var csvHeader = []string{"case", "site", "subject", "visit", "visits", "case_status", "task", "kind", "slot", "reader",
	"version", "latest", "outcome", "outcome_source", "choice", "basis", "reason", "signed_by", "meaning", "signed_at",
	"record_sha256", "result"}

func newExportWriter(w *bufio.Writer, format, trialID string, rel *Release) (*exportWriter, error) {
	e := &exportWriter{w: w, format: format}
	switch format {
	case FormatCSV:
		e.csv = csv.NewWriter(w)
		return e, e.csv.Write(csvHeader)
	case FormatJSON:
		head, err := json.Marshal(struct {
			Trial    string   `json:"trial"`
			Released *Release `json:"released"`
		}{trialID, rel})
		if err != nil {
			return nil, err
		}
		// Stream the reads into the object, keeping its other members.
		_, err = w.Write(append(head[:len(head)-1], `,"reads":[`...))
		return e, err
	}
	return e, nil
}

func (e *exportWriter) write(l *ExportLine) error {
	switch e.format {
	case FormatCSV:
		res, err := json.Marshal(l.Result)
		if err != nil {
			return err
		}
		basis, _ := json.Marshal(l.Basis)
		if l.Basis == nil {
			basis = nil
		}
		visits, _ := json.Marshal(l.Visits)
		return e.csv.Write([]string{l.Case, l.Site, l.Subject, l.Visit, string(visits), l.CaseStatus, l.Task, l.Kind,
			strconv.Itoa(l.Slot), l.Reader, strconv.Itoa(l.Version), strconv.FormatBool(l.Latest), strconv.FormatBool(l.Outcome),
			l.OutcomeSource, l.Choice, string(basis), l.Reason, l.Signature.Name, l.Signature.Meaning, l.Signature.Time,
			l.Signature.RecordSHA256, string(res)})
	case FormatJSON:
		if e.n > 0 {
			if err := e.w.WriteByte(','); err != nil {
				return err
			}
		}
		e.n++
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		_, err = e.w.Write(b)
		return err
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	return e.w.WriteByte('\n')
}

func (e *exportWriter) close() error {
	switch e.format {
	case FormatCSV:
		e.csv.Flush()
		return e.csv.Error()
	case FormatJSON:
		_, err := e.w.WriteString("]}\n")
		return err
	}
	return nil
}

// Outcome is a case's outcome as the sponsor queries it.
type Outcome struct {
	Case    string `json:"case"`
	Site    string `json:"site"`
	Subject string `json:"subject"`
	Visit   string `json:"visit,omitempty"`
	Status  string `json:"status"`
	// Source says how the outcome was settled: single, concordant or
	// adjudicated; empty while the case is open.
	Source  string `json:"source,omitempty"`
	Task    string `json:"task,omitempty"`
	Version int    `json:"version,omitempty"`
	Result  any    `json:"result,omitempty"`
}

const selectOutcomes = `SELECT c.code, c.site, c.subject, c.visit, c.status, c.outcome_source, c.outcome_task, c.outcome_version,
	COALESCE(v.record, '') FROM read_cases c
	LEFT JOIN read_versions v ON v.task_id = c.outcome_task AND v.version = c.outcome_version
	WHERE c.trial_id = $1 ORDER BY c.code`

// Outcomes lists every case of a trial with its outcome: the adjudicated
// or concordant read, or the single read, once settled. Access as for
// Export; the view is recorded.
func (s *Service) Outcomes(ctx context.Context, p *auth.Principal, trialID string) ([]Outcome, error) {
	role, err := s.resultsAccess(ctx, p, trialID, audit.ActionReadsExported)
	if err != nil {
		return nil, err
	}
	var out []Outcome
	err = s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		out, err = queryAll(ctx, r, selectOutcomes, func(r row) (Outcome, error) {
			var o Outcome
			var record string
			if err := r.Scan(&o.Case, &o.Site, &o.Subject, &o.Visit, &o.Status, &o.Source, &o.Task, &o.Version, &record); err != nil {
				return o, err
			}
			if record != "" {
				rec, err := parseRecord([]byte(record))
				if err != nil {
					return o, err
				}
				o.Result = present(rec.Result, o.Visit == "")
			}
			return o, nil
		}, trialID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reads: read outcomes: %w", err)
	}
	if out == nil {
		out = []Outcome{}
	}
	err = s.db.Record(ctx, p.Actor(role), db.TrialScope(trialID), audit.Event{Action: audit.ActionReadsExported,
		Object: audit.Object{Type: "trial", ID: trialID}, After: map[string]any{"view": "outcomes", "cases": len(out)}})
	return out, err
}

const selectAgreement = `SELECT c.code, c.visit, c.status, t.slot, u.username, v.record,
	EXISTS (SELECT 1 FROM read_tasks a WHERE a.case_id = c.id AND a.kind = 'adjudication')
	FROM read_tasks t JOIN read_cases c ON c.id = t.case_id JOIN users u ON u.id = t.reader_id
	JOIN read_versions v ON v.task_id = t.id AND v.version = t.version
	WHERE t.trial_id = $1 AND t.kind = 'read' AND t.version > 0 ORDER BY c.code, t.slot`

// Agreement computes the reader-variability statistics of a trial over
// its double-read cases whose two reads are signed (their latest
// versions), per field of the form in force, and the adjudication rate
// per reader. Access as for Export; the view is recorded.
func (s *Service) Agreement(ctx context.Context, p *auth.Principal, trialID string) (*AgreementReport, error) {
	role, err := s.resultsAccess(ctx, p, trialID, audit.ActionReadsAgreementRead)
	if err != nil {
		return nil, err
	}
	cfg, err := s.trials.ReadConfig(ctx, trialID, 0)
	if err != nil {
		return nil, err
	}
	type signed struct {
		code, visit, status string
		slot                int
		reader              string
		result              Reading
		adjudicated         bool
	}
	var all []signed
	err = s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		all, err = queryAll(ctx, r, selectAgreement, func(r row) (signed, error) {
			var x signed
			var record string
			if err := r.Scan(&x.code, &x.visit, &x.status, &x.slot, &x.reader, &record, &x.adjudicated); err != nil {
				return x, err
			}
			rec, err := parseRecord([]byte(record))
			x.result = rec.Result
			return x, err
		}, trialID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reads: read signed reads: %w", err)
	}
	var pairs []Pair
	var cases []CaseAdjudication
	for i := 0; i+1 < len(all); i++ {
		a, b := all[i], all[i+1]
		if a.code != b.code || a.slot != 1 || b.slot != 2 {
			continue
		}
		i++
		for k := range min(len(a.result.Timepoints), len(b.result.Timepoints)) {
			pairs = append(pairs, Pair{Case: a.code, Timepoint: k + 1, Readers: [2]string{a.reader, b.reader},
				Results: [2]Result{a.result.Timepoints[k], b.result.Timepoints[k]}})
		}
		cases = append(cases, CaseAdjudication{Case: a.code, Readers: [2]string{a.reader, b.reader}, Adjudicated: a.adjudicated})
	}
	rep := Agreement(cfg.Design.Form, pairs, cases)
	err = s.db.Record(ctx, p.Actor(role), db.TrialScope(trialID), audit.Event{Action: audit.ActionReadsAgreementRead,
		Object: audit.Object{Type: "trial", ID: trialID}, After: map[string]any{"cases": len(cases), "pairs": len(pairs)}})
	if err != nil {
		return nil, err
	}
	return rep, nil
}
