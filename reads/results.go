package reads

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// Reading is a read's result: one validated Result per time point of its
// case, in reading order (one for a visit case).
type Reading struct {
	Timepoints []Result `json:"timepoints"`
}

// Adjudication choices.
const (
	ChoiceReader1 = "reader_1" // the adjudicator takes Reader 1's read
	ChoiceReader2 = "reader_2" // ... Reader 2's
	ChoiceOwn     = "own"      // the adjudicator records their own read
)

// TimepointInput is the values of one time point as a reader sends them.
type TimepointInput struct {
	Values map[string]any `json:"values"`
}

// ResultInput is what a reader sends to save a draft: the values of a
// visit case, or the time points of a subject case in reading order (a
// prefix of them while reading); for an adjudication, the choice, and
// values only with ChoiceOwn. Reason is required once the task is signed
// (the change makes a new version) and for every adjudication.
type ResultInput struct {
	Values     map[string]any   `json:"values,omitempty"`
	Timepoints []TimepointInput `json:"timepoints,omitempty"`
	Choice     string           `json:"choice,omitempty"`
	Reason     string           `json:"reason,omitempty"`
}

// draft is a saved, unsigned result as stored in read_tasks.draft.
type draft struct {
	Choice string  `json:"choice,omitempty"`
	Result Reading `json:"result"`
}

// signedRecord is what a reader signs: the exact bytes stored in
// read_versions.record, whose SHA-256 the signature carries.
type signedRecord struct {
	Trial   string  `json:"trial"`
	Case    string  `json:"case"` // the case code
	Task    string  `json:"task"`
	Kind    string  `json:"kind"`
	Version int     `json:"version"`
	Choice  string  `json:"choice,omitempty"`
	Basis   []int   `json:"basis,omitempty"` // adjudication: the versions of Reader 1's and Reader 2's reads it settles
	Result  Reading `json:"result"`
	Reason  string  `json:"reason,omitempty"`
}

// parseRecord decodes a stored signed record.
func parseRecord(b []byte) (signedRecord, error) {
	var r signedRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("reads: stored signed record: %w", err)
	}
	return r, nil
}

// validateReading checks the time points a reader sent against the form:
// each is validated given the ones before it (a RECIST response is
// measured against the baseline and the nadir). complete says whether
// every time point of the case must be there (signing).
func validateReading(f *Form, in []TimepointInput, points int) (Reading, error) {
	if len(in) > points {
		return Reading{}, trialgate.Errorf(trialgate.EInvalid, "timepoints: %d given, the case has %d", len(in), points)
	}
	out := Reading{Timepoints: make([]Result, 0, len(in))}
	for i, tp := range in {
		if tp.Values == nil {
			return Reading{}, trialgate.Errorf(trialgate.EInvalid, "timepoints[%d].values: required", i)
		}
		r, err := f.Validate(tp.Values, out.Timepoints)
		if err != nil {
			var e *trialgate.Error
			if errors.As(err, &e) && e.Code == trialgate.EInvalid && points > 1 {
				return Reading{}, trialgate.Errorf(trialgate.EInvalid, "timepoints[%d].%s", i, e.Message)
			}
			return Reading{}, err
		}
		out.Timepoints = append(out.Timepoints, r)
	}
	return out, nil
}

// inputs returns the time points of a reader's input for a case of the
// given number of points: values for a single time point, timepoints for
// a subject case.
func (in *ResultInput) inputs(points int) ([]TimepointInput, error) {
	switch {
	case points == 1 && in.Timepoints == nil:
		if in.Values == nil {
			return nil, trialgate.Errorf(trialgate.EInvalid, "values: required")
		}
		return []TimepointInput{{Values: in.Values}}, nil
	case in.Values != nil && points > 1:
		return nil, trialgate.Errorf(trialgate.EInvalid,
			"values: this case has %d time points; send timepoints: [{values: ...}, ...] in reading order", points)
	case in.Values != nil:
		return nil, trialgate.Errorf(trialgate.EInvalid, "values: give either values or timepoints, not both")
	case len(in.Timepoints) == 0:
		return nil, trialgate.Errorf(trialgate.EInvalid, "timepoints: required (at least the first time point)")
	}
	return in.Timepoints, nil
}

const (
	saveDraft = `UPDATE read_tasks SET draft = $2, draft_reason = $3, updated_us = $4,
		status = CASE WHEN status IN ('signed', 'amending') THEN 'amending' ELSE 'draft' END
		WHERE id = $1 AND reader_id = $5`
	signTask = `UPDATE read_tasks SET status = 'signed', version = $2, draft = '', draft_reason = '', updated_us = $3
		WHERE id = $1 AND version = $4 AND status IN ('draft', 'amending')`
	insertVersion = `INSERT INTO read_versions (task_id, version, trial_id, case_id, record, record_sha256, choice, reason,
		signer_id, signer_name, meaning, signed_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	setOutcome = `UPDATE read_cases SET status = $2, outcome_source = $3, outcome_task = $4, outcome_version = $5, updated_us = $6
		WHERE id = $1`
)

// SaveResult saves the draft of a read or an adjudication by its reader:
// validated against the case's form (400 naming the field), derived fields
// filled in. A change to a signed read needs a reason and becomes a new
// version when signed. A refused input is recorded as a failed attempt.
func (s *Service) SaveResult(ctx context.Context, p *auth.Principal, taskID string, in ResultInput) (*TaskView, error) {
	t, err := s.ownTask(ctx, p, taskID, audit.ActionReadDraftSaved)
	if err != nil {
		return nil, err
	}
	c, points, cfg, err := s.taskCase(ctx, t)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*TaskView, error) {
		if trialgate.ErrorCode(err) != trialgate.EInvalid && trialgate.ErrorCode(err) != trialgate.EConflict {
			return nil, err
		}
		rerr := s.db.Record(ctx, p.Actor(t.role()), c.scope(), audit.Event{Action: audit.ActionReadDraftSaved,
			Object: taskObject(t.ID), Outcome: audit.Failed, Reason: trialgate.ErrorMessage(err)})
		if rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	d, reason, err := s.checkInput(ctx, t, cfg, len(points), in)
	if err != nil {
		return fail(err)
	}
	enc, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("reads: encode draft: %w", err)
	}
	err = s.db.Write(ctx, p.Actor(t.role()), c.scope(), func(tx *db.Tx) error {
		cur, err := scanTask(tx.QueryRow(ctx, selectTask, t.ID))
		if err != nil {
			return fmt.Errorf("reads: read task: %w", err)
		}
		if cur.Version > 0 && reason == "" {
			return trialgate.Errorf(trialgate.EInvalid, "reason: required to change a signed read (version %d)", cur.Version)
		}
		n, err := tx.Exec(ctx, saveDraft, t.ID, string(enc), reason, s.now().UnixMicro(), p.User.ID)
		if err != nil {
			return fmt.Errorf("reads: save draft: %w", err)
		}
		if n != 1 {
			return noTask(t.ID)
		}
		before, after := changes(cur, d)
		status := TaskDraft
		if cur.Version > 0 {
			status = TaskAmending
		}
		after["status"] = status
		if cur.Status != status {
			before["status"] = cur.Status
		}
		return tx.Audit(audit.Event{Action: audit.ActionReadDraftSaved, Object: taskObject(t.ID),
			Before: before, After: after, Reason: reason})
	})
	if err != nil {
		return fail(err)
	}
	return s.taskView(ctx, t.ID, true)
}

// checkInput validates a reader's input for task t and returns the draft
// it saves and its reason.
func (s *Service) checkInput(ctx context.Context, t task, cfg *TrialConfig, points int, in ResultInput) (draft, string, error) {
	form := cfg.Design.Form
	if t.Kind == KindRead {
		if in.Choice != "" {
			return draft{}, "", trialgate.Errorf(trialgate.EInvalid, "choice: only an adjudication chooses")
		}
		reason, err := checkReason(in.Reason, "")
		if err != nil {
			return draft{}, "", err
		}
		tps, err := in.inputs(points)
		if err != nil {
			return draft{}, "", err
		}
		r, err := validateReading(form, tps, points)
		return draft{Result: r}, reason, err
	}
	reason, err := checkReason(in.Reason, "for an adjudication")
	if err != nil {
		return draft{}, "", err
	}
	switch in.Choice {
	case ChoiceReader1, ChoiceReader2:
		if in.Values != nil || in.Timepoints != nil {
			return draft{}, "", trialgate.Errorf(trialgate.EInvalid, "values: only with choice %q; %s takes that read as signed", ChoiceOwn, in.Choice)
		}
		return draft{Choice: in.Choice}, reason, nil
	case ChoiceOwn:
		tps, err := in.inputs(points)
		if err != nil {
			return draft{}, "", err
		}
		r, err := validateReading(form, tps, points)
		return draft{Choice: ChoiceOwn, Result: r}, reason, err
	case "":
		return draft{}, "", trialgate.Errorf(trialgate.EInvalid, "choice: required: %s, %s or %s", ChoiceReader1, ChoiceReader2, ChoiceOwn)
	}
	return draft{}, "", trialgate.Errorf(trialgate.EInvalid, "choice: %q must be one of %s, %s, %s", clip(in.Choice),
		ChoiceReader1, ChoiceReader2, ChoiceOwn)
}

// changes returns the fields of the draft that differ from the task's
// current draft (or, for a first draft of a signed task, its latest
// version is not consulted: the reason and the next version say it).
func changes(cur task, d draft) (before, after map[string]any) {
	before, after = map[string]any{}, map[string]any{}
	var old draft
	if cur.Draft != "" {
		_ = json.Unmarshal([]byte(cur.Draft), &old)
	}
	if old.Choice != d.Choice {
		if old.Choice != "" {
			before["choice"] = old.Choice
		}
		after["choice"] = d.Choice
	}
	// Compare through JSON, as stored: a draft read back has float64s.
	norm := func(r Reading) []map[string]any {
		var out []map[string]any
		b, _ := json.Marshal(r.Timepoints)
		var tps []Result
		_ = json.Unmarshal(b, &tps)
		for _, tp := range tps {
			out = append(out, tp.Values)
		}
		return out
	}
	ov, nv := norm(old.Result), norm(d.Result)
	for i := 0; i < max(len(ov), len(nv)); i++ {
		var o, n map[string]any
		if i < len(ov) {
			o = ov[i]
		}
		if i < len(nv) {
			n = nv[i]
		}
		prefix := ""
		if len(ov) > 1 || len(nv) > 1 {
			prefix = "timepoints[" + strconv.Itoa(i) + "]."
		}
		keys := slices.Sorted(maps.Keys(n))
		for k := range o {
			if _, ok := n[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if !reflect.DeepEqual(o[k], n[k]) {
				if v, ok := o[k]; ok {
					before[prefix+k] = v
				}
				if v, ok := n[k]; ok {
					after[prefix+k] = v
				}
			}
		}
	}
	return before, after
}

// Sign submits a task's draft with the reader's electronic signature
// (password re-entered, meaning): a new version, whose signed record is
// bound to its SHA-256. A wrong password is refused and recorded by auth,
// and counts toward lockout. The signature settles the case when it can:
// a single read, two concordant reads, or an adjudication; two discordant
// reads get an adjudication task (or wait for an eligible adjudicator).
func (s *Service) Sign(ctx context.Context, p *auth.Principal, taskID, password, meaning string) (*TaskView, error) {
	t, err := s.ownTask(ctx, p, taskID, audit.ActionReadSigned)
	if err != nil {
		return nil, err
	}
	c, points, cfg, err := s.taskCase(ctx, t)
	if err != nil {
		return nil, err
	}
	refuse := func(err error) (*TaskView, error) {
		rerr := s.db.Record(ctx, p.Actor(t.role()), c.scope(), audit.Event{Action: audit.ActionReadSigned,
			Object: taskObject(t.ID), Outcome: audit.Failed, Reason: trialgate.ErrorMessage(err)})
		if rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	if meaning != auth.MeaningAuthorship && meaning != auth.MeaningApproval && meaning != auth.MeaningReview {
		return refuse(trialgate.Errorf(trialgate.EInvalid, "meaning: %q: a read is signed with meaning %s (or %s, %s)",
			clip(meaning), auth.MeaningAuthorship, auth.MeaningApproval, auth.MeaningReview))
	}
	if t.Status != TaskDraft && t.Status != TaskAmending {
		return refuse(trialgate.Errorf(trialgate.EConflict, "task %s has no unsigned draft to sign (status %s)", t.ID, t.Status))
	}
	var d draft
	if err := json.Unmarshal([]byte(t.Draft), &d); err != nil {
		return nil, fmt.Errorf("reads: stored draft of %s: %w", t.ID, err)
	}
	rec := signedRecord{Trial: t.Trial, Case: c.Code, Task: t.ID, Kind: t.Kind, Version: t.Version + 1,
		Choice: d.Choice, Result: d.Result, Reason: t.DraftReason}
	if t.Kind == KindAdjudication {
		basis, chosen, err := s.adjudicationBasis(ctx, c, d.Choice)
		if err != nil {
			return refuse(err)
		}
		rec.Basis = basis
		if d.Choice != ChoiceOwn {
			rec.Result = chosen
		}
	}
	if len(rec.Result.Timepoints) != len(points) {
		return refuse(trialgate.Errorf(trialgate.EInvalid, "timepoints: the draft reads %d of the case's %d time points; all are needed to sign",
			len(rec.Result.Timepoints), len(points)))
	}
	record, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("reads: encode record: %w", err)
	}
	sig, err := s.accounts.Sign(ctx, p, password, meaning, record)
	if err != nil {
		return nil, err
	}
	adjudicators, err := s.adjudicatorPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	err = s.db.Write(ctx, p.Actor(t.role()), c.scope(), func(tx *db.Tx) error {
		now := s.now().UnixMicro()
		n, err := tx.Exec(ctx, signTask, t.ID, rec.Version, now, t.Version)
		if err != nil {
			return fmt.Errorf("reads: sign task: %w", err)
		}
		if n != 1 {
			return trialgate.Errorf(trialgate.EConflict, "task %s changed while signing; reload and sign again", t.ID)
		}
		if _, err := tx.Exec(ctx, insertVersion, t.ID, rec.Version, t.Trial, c.ID, string(record), sig.RecordSHA256,
			rec.Choice, rec.Reason, sig.Signer, sig.Name, sig.Meaning, now); err != nil {
			return fmt.Errorf("reads: insert version: %w", err)
		}
		after := map[string]any{"version": rec.Version, "status": TaskSigned, "record_sha256": sig.RecordSHA256, "case": c.Code}
		if rec.Choice != "" {
			after["choice"] = rec.Choice
		}
		if err := tx.Audit(audit.Event{Action: audit.ActionReadSigned, Object: taskObject(t.ID),
			Before: map[string]any{"status": t.Status, "version": t.Version}, After: after,
			Reason: rec.Reason, Signature: &sig}); err != nil {
			return err
		}
		return s.settle(ctx, tx, c, cfg, adjudicators)
	})
	if err != nil {
		return nil, err
	}
	return s.taskView(ctx, t.ID, true)
}

// adjudicatorPool returns the adjudicators of a double-read trial.
func (s *Service) adjudicatorPool(ctx context.Context, cfg *TrialConfig) ([]Reader, error) {
	if cfg.Design.Design != DoubleAdjudicated {
		return nil, nil
	}
	members, err := s.accounts.Members(ctx, cfg.Trial, auth.Adjudicator)
	if err != nil {
		return nil, err
	}
	rs, _ := pool(members)
	return rs, nil
}

// adjudicationBasis returns the versions of the two reads an adjudication
// settles, and the read chosen (Reader 1 or 2).
func (s *Service) adjudicationBasis(ctx context.Context, c readCase, choice string) ([]int, Reading, error) {
	var basis []int
	var chosen Reading
	err := s.db.Read(ctx, func(r *db.Reader) error {
		tasks, err := caseTasks(ctx, r, c.ID)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if t.Kind != KindRead {
				continue
			}
			if t.Version == 0 {
				return trialgate.Errorf(trialgate.EConflict, "Reader %d's read is not signed", t.Slot)
			}
			basis = append(basis, t.Version)
			if choice == fmt.Sprintf("reader_%d", t.Slot) {
				v, err := latest(ctx, r, t)
				if err != nil {
					return err
				}
				rec, err := parseRecord(v.Record)
				if err != nil {
					return err
				}
				chosen = rec.Result
			}
		}
		return nil
	})
	return basis, chosen, err
}

// settle decides the state of a case after one of its tasks was signed,
// inside that transaction: a signed single read or adjudication is the
// outcome; two signed reads are compared by the design's rules, and are
// the outcome when concordant; when discordant, an adjudication task goes
// to an adjudicator outside the case's site who did neither read, or the
// case waits for one (adjudication_pending, assigned by the next run).
func (s *Service) settle(ctx context.Context, tx *db.Tx, c readCase, cfg *TrialConfig, adjudicators []Reader) error {
	cur, err := loadCase(ctx, tx, c.ID)
	if err != nil {
		return err
	}
	tasks, err := caseTasks(ctx, tx, c.ID)
	if err != nil {
		return err
	}
	now := s.now().UnixMicro()
	outcome := func(source string, t task) error {
		if cur.Status == CaseComplete && cur.OutcomeSource == source && cur.OutcomeTask == t.ID && cur.OutcomeVersion == t.Version {
			return nil
		}
		if _, err := tx.Exec(ctx, setOutcome, c.ID, CaseComplete, source, t.ID, t.Version, now); err != nil {
			return fmt.Errorf("reads: settle case: %w", err)
		}
		before := map[string]any{"status": cur.Status}
		if cur.OutcomeSource != "" {
			before["outcome"] = map[string]any{"source": cur.OutcomeSource, "task": cur.OutcomeTask, "version": cur.OutcomeVersion}
		}
		return tx.Audit(audit.Event{Action: audit.ActionReadAdjudicated, Object: caseObject(c.ID), Before: before,
			After: map[string]any{"status": CaseComplete, "case": c.Code,
				"outcome": map[string]any{"source": source, "task": t.ID, "version": t.Version}}})
	}
	var reads []task
	var adj *task
	for i, t := range tasks {
		if t.Kind == KindAdjudication {
			adj = &tasks[i]
		} else {
			reads = append(reads, t)
		}
	}
	if adj != nil && adj.Version > 0 {
		// An adjudication settles the case; later changes to the reads it
		// weighed are recorded with their reasons and leave it in force.
		return outcome(OutcomeAdjudicated, *adj)
	}
	if cfg.Design.Design == Single {
		if len(reads) > 0 && reads[0].Version > 0 {
			return outcome(OutcomeSingle, reads[0])
		}
		return nil
	}
	if len(reads) < 2 || reads[0].Version == 0 || reads[1].Version == 0 {
		return nil
	}
	var results [2]Reading
	for i, t := range reads[:2] {
		v, err := latest(ctx, tx, t)
		if err != nil {
			return err
		}
		rec, err := parseRecord(v.Record)
		if err != nil {
			return err
		}
		results[i] = rec.Result
	}
	fields := discordance(cfg.Design, results[0], results[1])
	verdict := "concordant"
	if len(fields) > 0 {
		verdict = "discordant"
	}
	if err := tx.Audit(audit.Event{Action: audit.ActionReadCaseEvaluated, Object: caseObject(c.ID), After: map[string]any{
		"case": c.Code, "result": verdict, "discordant_fields": fields, "versions": []int{reads[0].Version, reads[1].Version}}}); err != nil {
		return err
	}
	if len(fields) == 0 {
		if adj != nil {
			// An adjudication under way continues: it was asked for.
			return nil
		}
		return outcome(OutcomeConcordant, reads[0])
	}
	if adj != nil {
		return nil
	}
	status := CaseAdjudicationPending
	load, err := adjudicationLoad(ctx, tx, c.Trial)
	if err != nil {
		return err
	}
	who, ok := chooseAdjudicator(c.ID, cur, tasks, adjudicators, load)
	if ok {
		status = CaseAdjudicating
		id := randomID("task-")
		if err := tx.InsertRows(ctx, insertTask, [][]any{{id, c.Trial, c.ID, KindAdjudication, adjudicationSlot, who,
			TaskAssigned, now, tx.Actor().ID, now}}); err != nil {
			return fmt.Errorf("reads: insert adjudication task: %w", err)
		}
		if err := tx.Audit(audit.Event{Action: audit.ActionReadAssigned, Object: caseObject(c.ID), After: map[string]any{
			"case": c.Code, "seed": c.ID, "algorithm": AssignAlgorithm, "tasks": []map[string]any{{"task": id, "reader_id": who,
				"kind": KindAdjudication, "slot": adjudicationSlot, "status": TaskAssigned}}}}); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, setOutcome, c.ID, status, "", "", 0, now); err != nil {
		return fmt.Errorf("reads: update case: %w", err)
	}
	before := map[string]any{"status": cur.Status}
	if cur.OutcomeSource != "" {
		before["outcome"] = map[string]any{"source": cur.OutcomeSource, "task": cur.OutcomeTask, "version": cur.OutcomeVersion}
	}
	return tx.Audit(audit.Event{Action: audit.ActionReadCaseEvaluated, Object: caseObject(c.ID), Before: before,
		After: map[string]any{"status": status, "case": c.Code}})
}

// discordance returns the fields on which two readings disagree, per
// time point ("timepoints[1].response" for a subject case).
func discordance(d *Design, a, b Reading) []string {
	fields := []string{}
	for i := range max(len(a.Timepoints), len(b.Timepoints)) {
		var ra, rb Result
		if i < len(a.Timepoints) {
			ra = a.Timepoints[i]
		}
		if i < len(b.Timepoints) {
			rb = b.Timepoints[i]
		}
		for _, f := range d.Discordant(ra, rb) {
			if len(a.Timepoints) > 1 || len(b.Timepoints) > 1 {
				f = fmt.Sprintf("timepoints[%d].%s", i, f)
			}
			fields = append(fields, f)
		}
	}
	return fields
}

// adjudicationLoad counts the adjudication tasks each adjudicator holds.
func adjudicationLoad(ctx context.Context, q querier, trialID string) (map[string]int, error) {
	load := map[string]int{}
	_, err := queryAll(ctx, q, `SELECT reader_id, count(*) FROM read_tasks WHERE trial_id = $1 AND kind = 'adjudication' GROUP BY reader_id`,
		func(r row) (struct{}, error) {
			var id string
			var n int
			err := r.Scan(&id, &n)
			load[id] = n
			return struct{}{}, err
		}, trialID)
	if err != nil {
		return nil, fmt.Errorf("reads: read adjudication load: %w", err)
	}
	return load, nil
}

// taskCase reads a task's case, its time points and its definition.
func (s *Service) taskCase(ctx context.Context, t task) (readCase, []timepoint, *TrialConfig, error) {
	var c readCase
	var points []timepoint
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		if c, err = loadCase(ctx, r, t.Case); err != nil {
			return err
		}
		points, err = timepoints(ctx, r, t.Case)
		return err
	})
	if err != nil {
		return readCase{}, nil, nil, err
	}
	cfg, err := s.config(ctx, c.Trial, c.Version)
	if err != nil {
		return readCase{}, nil, nil, err
	}
	return c, points, cfg, nil
}

// isNoRows reports whether err says a row was not found.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
