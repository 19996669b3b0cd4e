package reads

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// TaskView is a read task as its reader sees it: blinded. It names the
// case by its code only, its time points by their blinded labels (none
// when the design hides them), and never shows another reader's identity.
type TaskView struct {
	ID         string          `json:"id"`
	Trial      string          `json:"trial"`
	Case       string          `json:"case"` // the case code
	CaseKind   string          `json:"case_kind"`
	Kind       string          `json:"kind"` // read or adjudication
	Status     string          `json:"status"`
	Version    int             `json:"version"` // latest signed version, 0 for none
	AssignedAt time.Time       `json:"assigned_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	Timepoints []TimepointView `json:"timepoints"`
	// DICOMweb is the path of the task's blinded DICOMweb root
	// (QIDO-RS and WADO-RS), for a viewer such as OHIF.
	DICOMweb string `json:"dicomweb"`

	// Detail, in GET /api/v1/read-tasks/{id} and after changes.
	Form     *Form         `json:"form,omitempty"`
	Draft    *DraftView    `json:"draft,omitempty"`
	Versions []VersionView `json:"versions,omitempty"`
	// Reads are, for an adjudication, the two signed reads it settles,
	// labelled Reader 1 and Reader 2, without who signed them.
	Reads      []BlindRead `json:"reads,omitempty"`
	Discordant []string    `json:"discordant_fields,omitempty"`
}

// TimepointView is one time point of a task's case.
type TimepointView struct {
	Index   int      `json:"index"`
	Label   string   `json:"label,omitempty"`
	Studies []string `json:"studies"` // StudyInstanceUIDs, as the reader's DICOMweb view serves them
}

// DraftView is a saved, unsigned result.
type DraftView struct {
	Choice string `json:"choice,omitempty"`
	Result any    `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Manifestation is how a signature is shown with a signed read
// (21 CFR 11.50): printed name, time, meaning, and the SHA-256 of the
// signed record.
type Manifestation struct {
	Name         string `json:"name"`
	Meaning      string `json:"meaning"`
	Time         string `json:"time"`
	RecordSHA256 string `json:"record_sha256"`
}

// VersionView is one signed version of a read.
type VersionView struct {
	Version   int           `json:"version"`
	Choice    string        `json:"choice,omitempty"`
	Basis     []int         `json:"basis,omitempty"`
	Result    any           `json:"result"`
	Reason    string        `json:"reason,omitempty"`
	Signature Manifestation `json:"signature"`
}

// BlindRead is a read as an adjudicator sees it.
type BlindRead struct {
	Label    string `json:"label"` // "Reader 1", "Reader 2"
	Version  int    `json:"version"`
	Result   any    `json:"result"`
	SignedAt string `json:"signed_at"`
}

// present shows a reading as the API takes it: values for a visit case,
// timepoints for a subject case.
func present(r Reading, subjectCase bool) any {
	if !subjectCase && len(r.Timepoints) == 1 {
		return map[string]any{"values": r.Timepoints[0].Values}
	}
	tps := make([]map[string]any, len(r.Timepoints))
	for i, tp := range r.Timepoints {
		tps[i] = map[string]any{"values": tp.Values}
	}
	return map[string]any{"timepoints": tps}
}

func manifestation(v version) Manifestation {
	return Manifestation{Name: v.SignerName, Meaning: v.Meaning, Time: time.UnixMicro(v.Signed).UTC().Format(audit.TimeFormat),
		RecordSHA256: v.SHA256}
}

const (
	selectOwnTasks = `SELECT ` + taskColumns + ` FROM read_tasks WHERE reader_id = $1 ORDER BY trial_id, assigned_us, id`
	selectStudies  = `SELECT DISTINCT study_uid FROM instances WHERE submission_id = $1 AND status = 'released' ORDER BY study_uid`
)

// Tasks lists the caller's own read and adjudication tasks, blinded, in
// the trials where they still hold the task's role. The listing is
// recorded on each trial's chain it shows tasks of. A caller who is no
// reader or adjudicator anywhere is refused.
func (s *Service) Tasks(ctx context.Context, p *auth.Principal) ([]TaskView, error) {
	var member bool
	for _, g := range p.Grants {
		member = member || g.Role == auth.Reader || g.Role == auth.Adjudicator
	}
	if !member {
		return nil, auth.Deny(ctx, s.db, p, db.System, audit.Object{Type: "read_tasks", ID: "own"},
			"only readers and adjudicators have read tasks")
	}
	var own []task
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		own, err = queryAll(ctx, r, selectOwnTasks, func(r row) (task, error) { return scanTask(r) }, p.User.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reads: read own tasks: %w", err)
	}
	out := []TaskView{}
	perTrial := map[string]int{}
	var trials []string
	for _, t := range own {
		if !p.Has(t.role(), t.Trial, "") {
			continue
		}
		v, err := s.taskView(ctx, t.ID, false)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
		if perTrial[t.Trial] == 0 {
			trials = append(trials, t.Trial)
		}
		perTrial[t.Trial]++
	}
	for _, trialID := range trials {
		role, _ := p.Allows(trialID, "", auth.Reader, auth.Adjudicator)
		if err := s.db.Record(ctx, p.Actor(role), db.TrialScope(trialID), audit.Event{Action: audit.ActionReadTasksListed,
			Object: audit.Object{Type: "read_tasks", ID: "own"}, After: map[string]any{"tasks": perTrial[trialID]}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Task returns one of the caller's own tasks with its form, draft, signed
// versions and, for an adjudication, the two reads it settles. The view
// is recorded; anyone but the task's reader gets 404, recorded as denied.
func (s *Service) Task(ctx context.Context, p *auth.Principal, id string) (*TaskView, error) {
	t, err := s.ownTask(ctx, p, id, audit.ActionReadTaskViewed)
	if err != nil {
		return nil, err
	}
	v, err := s.taskView(ctx, t.ID, true)
	if err != nil {
		return nil, err
	}
	c, _, _, err := s.taskCase(ctx, t)
	if err != nil {
		return nil, err
	}
	err = s.db.Record(ctx, p.Actor(t.role()), c.scope(), audit.Event{Action: audit.ActionReadTaskViewed, Object: taskObject(t.ID),
		After: map[string]any{"status": v.Status, "version": v.Version, "reads_shown": len(v.Reads)}})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// taskView builds the blinded view of a task; detail adds the form, the
// draft, the versions and an adjudication's reads.
func (s *Service) taskView(ctx context.Context, id string, detail bool) (*TaskView, error) {
	var v *TaskView
	var cfgVersion int
	var trialID string
	var t task
	var c readCase
	var points []timepoint
	var vers []version
	var others []task
	studies := map[int][]string{}
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		if t, err = scanTask(r.QueryRow(ctx, selectTask, id)); err != nil {
			return fmt.Errorf("reads: read task %s: %w", id, err)
		}
		if c, err = loadCase(ctx, r, t.Case); err != nil {
			return err
		}
		if points, err = timepoints(ctx, r, t.Case); err != nil {
			return err
		}
		for _, tp := range points {
			for _, sub := range tp.Submissions {
				uids, err := queryAll(ctx, r, selectStudies, func(r row) (string, error) {
					var u string
					err := r.Scan(&u)
					return u, err
				}, sub)
				if err != nil {
					return fmt.Errorf("reads: read studies: %w", err)
				}
				studies[tp.Index] = append(studies[tp.Index], uids...)
			}
		}
		if !detail {
			return nil
		}
		if vers, err = versions(ctx, r, t.ID); err != nil {
			return err
		}
		if t.Kind == KindAdjudication {
			if others, err = caseTasks(ctx, r, t.Case); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	cfgVersion, trialID = c.Version, c.Trial
	cfg, err := s.config(ctx, trialID, cfgVersion)
	if err != nil {
		return nil, err
	}
	subjectCase := c.Visit == ""
	v = &TaskView{ID: t.ID, Trial: t.Trial, Case: c.Code, CaseKind: cfg.Design.Case, Kind: t.Kind, Status: t.Status,
		Version: t.Version, AssignedAt: time.UnixMicro(t.Assigned).UTC(), UpdatedAt: time.UnixMicro(t.Updated).UTC(),
		DICOMweb: "/dicomweb/reads/" + t.ID, Timepoints: []TimepointView{}}
	for _, tp := range points {
		tv := TimepointView{Index: tp.Index, Studies: studies[tp.Index]}
		if cfg.Design.Blinding.Timepoints == TimepointsLabel {
			tv.Label = tp.Label
		}
		if tv.Studies == nil {
			tv.Studies = []string{}
		}
		v.Timepoints = append(v.Timepoints, tv)
	}
	if !detail {
		return v, nil
	}
	v.Form = cfg.Design.Form
	if t.Draft != "" {
		var d draft
		if err := json.Unmarshal([]byte(t.Draft), &d); err != nil {
			return nil, fmt.Errorf("reads: stored draft of %s: %w", t.ID, err)
		}
		dv := &DraftView{Choice: d.Choice, Reason: t.DraftReason}
		if d.Choice == "" || d.Choice == ChoiceOwn {
			dv.Result = present(d.Result, subjectCase)
		}
		v.Draft = dv
	}
	for _, ver := range vers {
		rec, err := parseRecord(ver.Record)
		if err != nil {
			return nil, err
		}
		v.Versions = append(v.Versions, VersionView{Version: ver.Number, Choice: ver.Choice, Basis: rec.Basis,
			Result: present(rec.Result, subjectCase), Reason: ver.Reason, Signature: manifestation(ver)})
	}
	if t.Kind == KindAdjudication {
		var results []Reading
		err := s.db.Read(ctx, func(r *db.Reader) error {
			for _, o := range others {
				if o.Kind != KindRead || o.Version == 0 {
					continue
				}
				ver, err := latest(ctx, r, o)
				if err != nil {
					return err
				}
				rec, err := parseRecord(ver.Record)
				if err != nil {
					return err
				}
				results = append(results, rec.Result)
				v.Reads = append(v.Reads, BlindRead{Label: fmt.Sprintf("Reader %d", o.Slot), Version: ver.Number,
					Result: present(rec.Result, subjectCase), SignedAt: time.UnixMicro(ver.Signed).UTC().Format(audit.TimeFormat)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(results) == 2 {
			v.Discordant = discordance(cfg.Design, results[0], results[1])
		}
	}
	return v, nil
}

// TrialTask is a task as the data manager's overview lists it: who holds
// it and how far it is, never its results.
type TrialTask struct {
	ID         string    `json:"id"`
	Case       string    `json:"case"`
	Site       string    `json:"site"`
	Subject    string    `json:"subject"`
	Visit      string    `json:"visit,omitempty"`
	Kind       string    `json:"kind"`
	Slot       int       `json:"slot"`
	Reader     string    `json:"reader"`
	Status     string    `json:"status"`
	Version    int       `json:"version"`
	Assigned   time.Time `json:"assigned_at"`
	Updated    time.Time `json:"updated_at"`
	CaseStatus string    `json:"case_status"`
}

const selectTrialTasks = `SELECT t.id, c.code, c.site, c.subject, c.visit, t.kind, t.slot, u.username, t.status, t.version,
	t.assigned_us, t.updated_us, c.status
	FROM read_tasks t JOIN read_cases c ON c.id = t.case_id JOIN users u ON u.id = t.reader_id
	WHERE t.trial_id = $1 ORDER BY c.code, t.slot`

// TrialTasks lists every task of a trial for its data managers: the
// progress of the reads, with no result in it.
func (s *Service) TrialTasks(ctx context.Context, p *auth.Principal, trialID string) ([]TrialTask, error) {
	scope := db.TrialScope(trialID)
	role, err := auth.Require(ctx, s.db, p, scope, audit.Object{Type: "trial", ID: trialID},
		"only a data manager of the trial may list its read tasks", auth.DataManager)
	if err != nil {
		return nil, err
	}
	var out []TrialTask
	err = s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		out, err = queryAll(ctx, r, selectTrialTasks, func(r row) (TrialTask, error) {
			var t TrialTask
			var a, u int64
			err := r.Scan(&t.ID, &t.Case, &t.Site, &t.Subject, &t.Visit, &t.Kind, &t.Slot, &t.Reader, &t.Status, &t.Version,
				&a, &u, &t.CaseStatus)
			t.Assigned, t.Updated = time.UnixMicro(a).UTC(), time.UnixMicro(u).UTC()
			return t, err
		}, trialID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reads: list tasks: %w", err)
	}
	if out == nil {
		out = []TrialTask{}
	}
	err = s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: audit.ActionReadTaskViewed,
		Object: audit.Object{Type: "trial", ID: trialID}, After: map[string]any{"tasks": len(out)}})
	return out, err
}
