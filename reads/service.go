package reads

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// Trials gives the service trial definitions: version n of a trial, or
// with n = 0 the approved version in force (trial.Service implements it).
type Trials interface {
	ReadConfig(ctx context.Context, trialID string, n int) (*TrialConfig, error)
}

// Accounts is what the service needs of accounts: the readers and
// adjudicators of a trial, and electronic signatures (auth.Service).
type Accounts interface {
	Members(ctx context.Context, trialID string, role auth.Role) ([]auth.Member, error)
	Sign(ctx context.Context, p *auth.Principal, password, meaning string, record []byte) (audit.Signature, error)
}

// Service runs blinded reads: cases, assignment, read tasks and their
// versions, adjudication, release and export. Every change goes through
// db.Write with its audit entry; every view of a task, a result or an
// image by a reader is recorded.
type Service struct {
	db       *db.DB
	trials   Trials
	accounts Accounts
	clock    func() time.Time

	mu      sync.Mutex
	configs map[configKey]*TrialConfig
}

type configKey struct {
	trial   string
	version int
}

// NewService returns the reads service over d.
func NewService(d *db.DB, trials Trials, accounts Accounts, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{db: d, trials: trials, accounts: accounts, clock: clock, configs: map[configKey]*TrialConfig{}}
}

// config returns version n (> 0) of a trial's definition, cached: stored
// versions never change.
func (s *Service) config(ctx context.Context, trialID string, n int) (*TrialConfig, error) {
	k := configKey{trialID, n}
	s.mu.Lock()
	c := s.configs[k]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.trials.ReadConfig(ctx, trialID, n)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.configs[k] = c
	s.mu.Unlock()
	return c, nil
}

// now is the service clock, in microseconds as stored.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// MaxReason bounds a reason, in bytes.
const MaxReason = 2000

// checkReason trims a reason and checks its length; required says whether
// it must be given, and why, for the message.
func checkReason(reason string, required string) (string, error) {
	switch reason = strings.TrimSpace(reason); {
	case reason == "" && required != "":
		return "", trialgate.Errorf(trialgate.EInvalid, "reason: required %s", required)
	case len(reason) > MaxReason:
		return "", trialgate.Errorf(trialgate.EInvalid, "reason: longer than %d bytes", MaxReason)
	}
	return reason, nil
}

// randomID returns prefix followed by 128 random bits in hex.
func randomID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Case codes are drawn from an alphabet without look-alikes (Crockford's
// base 32): 8 symbols, 40 random bits, as "RC-XXXX-XXXX".
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newCode returns a random case code. It reveals nothing: it is drawn
// from crypto/rand, never derived from the subject, site or dates.
func newCode() string {
	var b [8]byte
	rand.Read(b[:])
	out := []byte("RC-0000-0000")
	for i, j := 0, 3; i < 8; i, j = i+1, j+1 {
		if j == 7 {
			j++
		}
		out[j] = codeAlphabet[b[i]&31]
	}
	return string(out)
}

// Task kinds and states, as stored.
const (
	KindRead         = AssignKindRead
	KindAdjudication = AssignKindAdjudication

	TaskAssigned = "assigned" // untouched: may be reassigned
	TaskDraft    = "draft"    // a draft is saved, never signed
	TaskSigned   = "signed"   // the latest version is signed
	TaskAmending = "amending" // a change to a signed read is drafted

	adjudicationSlot = 3
)

// Case states and outcome sources, as stored.
const (
	CaseReading             = "reading"
	CaseAdjudicationPending = "adjudication_pending"
	CaseAdjudicating        = "adjudicating"
	CaseComplete            = "complete"

	OutcomeSingle      = "single"
	OutcomeConcordant  = "concordant"
	OutcomeAdjudicated = "adjudicated"
)

const (
	caseColumns = `id, trial_id, code, trial_version, site, subject, visit, shift_days, status,
		outcome_source, outcome_task, outcome_version, created_us, updated_us`
	selectCase     = `SELECT ` + caseColumns + ` FROM read_cases WHERE id = $1`
	taskColumns    = `id, trial_id, case_id, kind, slot, reader_id, status, version, draft, draft_reason, assigned_us, updated_us`
	selectTask     = `SELECT ` + taskColumns + ` FROM read_tasks WHERE id = $1`
	selectCaseTask = `SELECT ` + taskColumns + ` FROM read_tasks WHERE case_id = $1 ORDER BY slot`
	selectPoints   = `SELECT t.idx, t.visit, t.label, t.submission_id FROM read_case_timepoints t
		WHERE t.case_id = $1 ORDER BY t.idx, t.submission_id`
	selectVersions = `SELECT task_id, version, record, record_sha256, choice, reason, signer_id, signer_name, meaning, signed_us
		FROM read_versions WHERE task_id = $1 ORDER BY version`
	selectVersion = `SELECT task_id, version, record, record_sha256, choice, reason, signer_id, signer_name, meaning, signed_us
		FROM read_versions WHERE task_id = $1 AND version = $2`
)

// readCase is a stored case.
type readCase struct {
	ID, Trial, Code string
	Version         int // of the trial definition
	Site, Subject   string
	Visit           string // "" for a subject case
	Shift           int
	Status          string
	OutcomeSource   string
	OutcomeTask     string
	OutcomeVersion  int
	Created         int64
	Updated         int64
}

// scope is what a change to the case touches: its subject, or its
// subject's visit.
func (c *readCase) scope() db.Scope {
	return db.Scope{Trial: c.Trial, Site: c.Site, Subject: c.Subject, Visit: c.Visit}
}

func caseObject(id string) audit.Object { return audit.Object{Type: "read_case", ID: id} }
func taskObject(id string) audit.Object { return audit.Object{Type: "read_task", ID: id} }

// row is what Scan reads from.
type row interface{ Scan(...any) error }

func scanCase(r row) (readCase, error) {
	var c readCase
	err := r.Scan(&c.ID, &c.Trial, &c.Code, &c.Version, &c.Site, &c.Subject, &c.Visit, &c.Shift, &c.Status,
		&c.OutcomeSource, &c.OutcomeTask, &c.OutcomeVersion, &c.Created, &c.Updated)
	return c, err
}

// task is a stored read task.
type task struct {
	ID, Trial, Case string
	Kind            string
	Slot            int
	Reader          string // user id
	Status          string
	Version         int // latest signed version, 0 for none
	Draft           string
	DraftReason     string
	Assigned        int64
	Updated         int64
}

func scanTask(r row) (task, error) {
	var t task
	err := r.Scan(&t.ID, &t.Trial, &t.Case, &t.Kind, &t.Slot, &t.Reader, &t.Status, &t.Version, &t.Draft, &t.DraftReason,
		&t.Assigned, &t.Updated)
	return t, err
}

// role is the role a task's reader holds it in.
func (t *task) role() auth.Role {
	if t.Kind == KindAdjudication {
		return auth.Adjudicator
	}
	return auth.Reader
}

// timepoint is one time point of a case: a visit, and the submissions
// that hold its images.
type timepoint struct {
	Index       int
	Visit       string
	Label       string
	Submissions []string
}

// version is a stored, signed version of a task's result.
type version struct {
	Task       string
	Number     int
	Record     []byte
	SHA256     string
	Choice     string
	Reason     string
	SignerID   string
	SignerName string
	Meaning    string
	Signed     int64
}

func scanVersion(r row) (version, error) {
	var v version
	var rec string
	err := r.Scan(&v.Task, &v.Number, &rec, &v.SHA256, &v.Choice, &v.Reason, &v.SignerID, &v.SignerName, &v.Meaning, &v.Signed)
	v.Record = []byte(rec)
	return v, err
}

// querier is what both a db.Reader and a db.Tx read through.
type querier interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// loadCase reads a case.
func loadCase(ctx context.Context, q querier, id string) (readCase, error) {
	c, err := scanCase(q.QueryRow(ctx, selectCase, id))
	if err != nil {
		return readCase{}, fmt.Errorf("reads: read case %s: %w", id, err)
	}
	return c, nil
}

// caseTasks reads the tasks of a case, by slot.
func caseTasks(ctx context.Context, q querier, caseID string) ([]task, error) {
	rows, err := q.Query(ctx, selectCaseTask, caseID)
	if err != nil {
		return nil, fmt.Errorf("reads: read tasks: %w", err)
	}
	defer rows.Close()
	var out []task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("reads: read task: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// timepoints reads the time points of a case, in reading order.
func timepoints(ctx context.Context, q querier, caseID string) ([]timepoint, error) {
	rows, err := q.Query(ctx, selectPoints, caseID)
	if err != nil {
		return nil, fmt.Errorf("reads: read time points: %w", err)
	}
	defer rows.Close()
	var out []timepoint
	for rows.Next() {
		var tp timepoint
		var sub string
		if err := rows.Scan(&tp.Index, &tp.Visit, &tp.Label, &sub); err != nil {
			return nil, fmt.Errorf("reads: read time point: %w", err)
		}
		if n := len(out); n > 0 && out[n-1].Index == tp.Index {
			out[n-1].Submissions = append(out[n-1].Submissions, sub)
			continue
		}
		tp.Submissions = []string{sub}
		out = append(out, tp)
	}
	return out, rows.Err()
}

// versions reads every signed version of a task, oldest first.
func versions(ctx context.Context, q querier, taskID string) ([]version, error) {
	rows, err := q.Query(ctx, selectVersions, taskID)
	if err != nil {
		return nil, fmt.Errorf("reads: read versions: %w", err)
	}
	defer rows.Close()
	var out []version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("reads: read version: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// latest reads the latest signed version of a task.
func latest(ctx context.Context, q querier, t task) (version, error) {
	if t.Version == 0 {
		return version{}, fmt.Errorf("reads: task %s has no signed version", t.ID)
	}
	v, err := scanVersion(q.QueryRow(ctx, selectVersion, t.ID, t.Version))
	if err != nil {
		return version{}, fmt.Errorf("reads: read version %d of task %s: %w", t.Version, t.ID, err)
	}
	return v, nil
}

// noTask is the answer to a request for a task the caller may not see,
// whether or not it exists: existence is not revealed.
func noTask(id string) error {
	return trialgate.Errorf(trialgate.ENotFound, "no read task %q", clip(id))
}

// clip shortens an echoed id.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ownTask reads a task for its own reader. Anyone else, and a reader who
// no longer holds the task's role in its trial, gets noTask, recorded as
// denied (on the task's trial chain when the task exists, on the system
// chain otherwise).
func (s *Service) ownTask(ctx context.Context, p *auth.Principal, id string, action audit.Action) (task, error) {
	var t task
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		t, err = scanTask(r.QueryRow(ctx, selectTask, id))
		return err
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return task{}, s.denyTask(ctx, p, db.System, id, action, "no such read task")
	case err != nil:
		return task{}, fmt.Errorf("reads: read task: %w", err)
	case !p.Is(t.Reader) || !p.Has(t.role(), t.Trial, ""):
		return task{}, s.denyTask(ctx, p, db.TrialScope(t.Trial), id, action, "not the caller's read task")
	}
	return t, nil
}

// denyTask records a refused request for a task and returns noTask.
func (s *Service) denyTask(ctx context.Context, p *auth.Principal, scope db.Scope, id string, action audit.Action, why string) error {
	role, _ := p.Allows(scope.Trial, "", auth.Reader, auth.Adjudicator)
	obj := taskObject(clip(id))
	err := s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: audit.ActionAccessDenied, Object: obj,
		Outcome: audit.Denied, Reason: string(action) + ": " + why})
	if err != nil && !errors.Is(err, db.ErrNoTrial) {
		return err
	}
	return noTask(id)
}
