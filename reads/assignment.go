package reads

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// MaxSeed bounds an assignment seed given by a data manager, in bytes.
const MaxSeed = 200

// AssignedTask is one task an assignment run created.
type AssignedTask struct {
	ID     string `json:"id"`
	Case   string `json:"case"`   // case code
	Reader string `json:"reader"` // username
	Kind   string `json:"kind"`   // read or adjudication
	Slot   int    `json:"slot"`   // 1, 2: Reader 1, Reader 2; 3: the adjudicator
}

// AssignmentRun is what an assignment run did.
type AssignmentRun struct {
	Seed         string         `json:"seed"`
	Algorithm    string         `json:"algorithm"`
	TrialVersion int            `json:"trial_version"`
	CasesCreated int            `json:"cases_created"`
	Tasks        []AssignedTask `json:"tasks"`
	// Pending counts discordant cases still waiting for an adjudicator
	// outside their site who did neither read.
	Pending int `json:"adjudications_pending"`
}

const (
	// selectUncased lists the accepted submissions that belong to no case.
	selectUncased = `SELECT s.id, s.site, s.subject, s.visit FROM submissions s
		WHERE s.trial_id = $1 AND s.status = 'accepted'
		AND NOT EXISTS (SELECT 1 FROM read_case_timepoints t WHERE t.submission_id = s.id)
		ORDER BY s.site, s.subject, s.visit, s.id`
	// selectSubmissionStates gives, per subject, the visits and states of
	// its submissions: a subject case waits until none is undecided.
	selectSubjectStates = `SELECT site, subject, visit, status FROM submissions WHERE trial_id = $1`
	selectCaseKeys      = `SELECT code, site, subject, visit FROM read_cases WHERE trial_id = $1`
	insertCase          = `INSERT INTO read_cases (id, trial_id, code, trial_version, site, subject, visit, shift_days, status,
		created_us, created_by, updated_us)`
	insertPoint = `INSERT INTO read_case_timepoints (case_id, idx, submission_id, visit, label)`
	insertTask  = `INSERT INTO read_tasks (id, trial_id, case_id, kind, slot, reader_id, status, assigned_us, assigned_by, updated_us)`
	selectLoad  = `SELECT reader_id, kind, count(*) FROM read_tasks WHERE trial_id = $1 GROUP BY reader_id, kind`
	// selectUnassigned lists the cases of a trial without read tasks.
	selectUnassigned = `SELECT c.id, c.site, c.subject, c.visit FROM read_cases c WHERE c.trial_id = $1 AND c.status = 'reading'
		AND NOT EXISTS (SELECT 1 FROM read_tasks t WHERE t.case_id = c.id)`
	selectPendingAdjudication = `SELECT ` + caseColumns + ` FROM read_cases WHERE trial_id = $1 AND status = 'adjudication_pending' ORDER BY id`
	setCaseStatus             = `UPDATE read_cases SET status = $2, updated_us = $3 WHERE id = $1`
)

// checkSeed validates a data manager's seed: printable, bounded.
func checkSeed(seed string) error {
	if len(seed) > MaxSeed {
		return trialgate.Errorf(trialgate.EInvalid, "seed: longer than %d bytes", MaxSeed)
	}
	for _, r := range seed {
		if !unicode.IsPrint(r) {
			return trialgate.Errorf(trialgate.EInvalid, "seed: only printable characters")
		}
	}
	return nil
}

// newSeed draws a seed: 128 random bits in hex.
func newSeed() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Assign is a data manager's assignment run: every readable case without
// tasks gets its reads (one, or two by different readers for a double
// read), randomised by seed (drawn when empty) and balanced over the
// trial's readers, none of whom gets a case from a site they belong to;
// discordant cases waiting for an adjudicator get one. Accepted visits
// become cases first (see the package documentation). The seed, the
// algorithm and a digest of the input are recorded, so that the same seed
// and the same input give the same assignment. Nothing is assigned if any
// case lacks eligible readers (trialgate.EConflict naming it).
func (s *Service) Assign(ctx context.Context, p *auth.Principal, trialID, seed string) (*AssignmentRun, error) {
	scope := db.TrialScope(trialID)
	if _, err := auth.Require(ctx, s.db, p, scope, audit.Object{Type: "trial", ID: trialID},
		"only a data manager of the trial may assign reads", auth.DataManager); err != nil {
		return nil, err
	}
	if err := checkSeed(seed); err != nil {
		return nil, err
	}
	if seed == "" {
		seed = newSeed()
	}
	cfg, err := s.trials.ReadConfig(ctx, trialID, 0)
	if err != nil {
		return nil, err
	}
	readers, err := s.accounts.Members(ctx, trialID, auth.Reader)
	if err != nil {
		return nil, err
	}
	adjudicators, err := s.accounts.Members(ctx, trialID, auth.Adjudicator)
	if err != nil {
		return nil, err
	}
	run := &AssignmentRun{Seed: seed, Algorithm: AssignAlgorithm, TrialVersion: cfg.Version, Tasks: []AssignedTask{}}
	err = s.db.Write(ctx, p.Actor(auth.DataManager), scope, func(tx *db.Tx) error {
		run.Tasks, run.CasesCreated, run.Pending = run.Tasks[:0], 0, 0
		created, err := s.formCases(ctx, tx, cfg)
		if err != nil {
			return err
		}
		run.CasesCreated = created
		return s.assignTasks(ctx, tx, cfg, seed, readers, adjudicators, run)
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// submissionRef is an accepted submission not yet in a case.
type submissionRef struct{ id, site, subject, visit string }

// formCases turns accepted visits into cases, each with a fresh random
// code and date shift: a visit case per accepted subject visit, or a
// subject case per subject once every visit of the protocol is accepted
// and no submission of the subject awaits a decision.
func (s *Service) formCases(ctx context.Context, tx *db.Tx, cfg *TrialConfig) (int, error) {
	subs, err := queryAll(ctx, tx, selectUncased, func(r row) (submissionRef, error) {
		var x submissionRef
		err := r.Scan(&x.id, &x.site, &x.subject, &x.visit)
		return x, err
	}, cfg.Trial)
	if err != nil {
		return 0, fmt.Errorf("reads: read accepted submissions: %w", err)
	}
	if len(subs) == 0 {
		return 0, nil
	}
	type key struct{ site, subject, visit string }
	codes := map[string]bool{}
	exists := map[key]bool{}
	if _, err := queryAll(ctx, tx, selectCaseKeys, func(r row) (struct{}, error) {
		var code string
		var k key
		err := r.Scan(&code, &k.site, &k.subject, &k.visit)
		codes[code] = true
		exists[k] = true
		return struct{}{}, err
	}, cfg.Trial); err != nil {
		return 0, fmt.Errorf("reads: read cases: %w", err)
	}

	// groups are the cases to form, each with its submissions.
	type group struct {
		key  key
		subs []submissionRef
	}
	var groups []group
	bySubject := cfg.Design.Case == BySubject
	if bySubject {
		complete, err := s.subjectsComplete(ctx, tx, cfg)
		if err != nil {
			return 0, err
		}
		at := map[key]int{}
		for _, x := range subs {
			k := key{x.site, x.subject, ""}
			if exists[k] || !complete[k.site+"\x00"+k.subject] {
				continue
			}
			i, ok := at[k]
			if !ok {
				i = len(groups)
				at[k] = i
				groups = append(groups, group{key: k})
			}
			groups[i].subs = append(groups[i].subs, x)
		}
	} else {
		at := map[key]int{}
		for _, x := range subs {
			k := key{x.site, x.subject, x.visit}
			if exists[k] || cfg.visitIndex(x.visit) < 0 {
				// A later accepted submission of a visit already in a case
				// joins no case: the case's reads may be under way.
				continue
			}
			i, ok := at[k]
			if !ok {
				i = len(groups)
				at[k] = i
				groups = append(groups, group{key: k})
			}
			groups[i].subs = append(groups[i].subs, x)
		}
	}

	now := s.now().UnixMicro()
	var caseRows, pointRows [][]any
	for _, g := range groups {
		id := randomID("case-")
		code := newCode()
		for codes[code] {
			code = newCode()
		}
		codes[code] = true
		shift := randomShift()
		caseRows = append(caseRows, []any{id, cfg.Trial, code, cfg.Version, g.key.site, g.key.subject, g.key.visit, shift,
			CaseReading, now, tx.Actor().ID, now})
		slices.SortFunc(g.subs, func(a, b submissionRef) int {
			return cmpInt(cfg.visitIndex(a.visit), cfg.visitIndex(b.visit))
		})
		// Reading order is protocol order; the label says where a time
		// point stands in it, never what the protocol calls it.
		idx, last := 0, ""
		var visits []string
		for _, x := range g.subs {
			if x.visit != last || idx == 0 {
				idx++
				last = x.visit
				visits = append(visits, x.visit)
			}
			pointRows = append(pointRows, []any{id, idx, x.id, x.visit, timepointLabel(cfg.visitIndex(x.visit))})
		}
		if err := tx.Affects(db.Scope{Trial: cfg.Trial, Site: g.key.site, Subject: g.key.subject, Visit: g.key.visit}); err != nil {
			return 0, err
		}
		err := tx.Audit(audit.Event{Action: audit.ActionReadCaseCreated, Object: caseObject(id), After: map[string]any{
			"code": code, "site": g.key.site, "subject": g.key.subject, "visits": visits,
			"submissions": len(g.subs), "trial_version": cfg.Version, "case": cfg.Design.Case}})
		if err != nil {
			return 0, err
		}
	}
	if err := tx.InsertRows(ctx, insertCase, caseRows); err != nil {
		return 0, fmt.Errorf("reads: insert cases: %w", err)
	}
	if err := tx.InsertRows(ctx, insertPoint, pointRows); err != nil {
		return 0, fmt.Errorf("reads: insert time points: %w", err)
	}
	return len(groups), nil
}

// subjectsComplete returns the subjects ("site\x00subject") whose every
// protocol visit has an accepted submission and none of whose submissions
// awaits a decision.
func (s *Service) subjectsComplete(ctx context.Context, tx *db.Tx, cfg *TrialConfig) (map[string]bool, error) {
	type state struct {
		accepted map[string]bool
		pending  bool
	}
	subjects := map[string]*state{}
	_, err := queryAll(ctx, tx, selectSubjectStates, func(r row) (struct{}, error) {
		var site, subject, visit, status string
		if err := r.Scan(&site, &subject, &visit, &status); err != nil {
			return struct{}{}, err
		}
		k := site + "\x00" + subject
		st := subjects[k]
		if st == nil {
			st = &state{accepted: map[string]bool{}}
			subjects[k] = st
		}
		switch status {
		case "accepted":
			st.accepted[visit] = true
		case "rejected":
		default:
			st.pending = true
		}
		return struct{}{}, nil
	}, cfg.Trial)
	if err != nil {
		return nil, fmt.Errorf("reads: read submission states: %w", err)
	}
	out := map[string]bool{}
	for k, st := range subjects {
		all := !st.pending
		for _, v := range cfg.Visits {
			all = all && st.accepted[v.ID]
		}
		out[k] = all
	}
	return out, nil
}

// timepointLabel is the blinded label of the visit at protocol position
// i: "baseline", then "follow-up 1", "follow-up 2"...
func timepointLabel(i int) string {
	if i <= 0 {
		return "baseline"
	}
	return "follow-up " + strconv.Itoa(i)
}

// randomShift draws a case's date shift: between 1 and 3 years back, a
// whole number of days, so that intervals and weekdays' spacing stay and
// the real dates cannot be read off.
func randomShift() int {
	var b [8]byte
	rand.Read(b[:])
	return -(365 + int(binary.BigEndian.Uint64(b[:])%731))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pool turns members into the assignment's readers, with their sites.
func pool(members []auth.Member) ([]Reader, map[string]auth.Member) {
	rs := make([]Reader, len(members))
	byID := make(map[string]auth.Member, len(members))
	for i, m := range members {
		rs[i] = Reader{ID: m.ID, Sites: m.Sites}
		byID[m.ID] = m
	}
	return rs, byID
}

// assignTasks gives the unassigned cases their reads and the pending
// adjudications their adjudicators.
func (s *Service) assignTasks(ctx context.Context, tx *db.Tx, cfg *TrialConfig, seed string, readerMembers, adjMembers []auth.Member, run *AssignmentRun) error {
	type unassigned struct{ id, site, subject, visit string }
	cases, err := queryAll(ctx, tx, selectUnassigned, func(r row) (unassigned, error) {
		var u unassigned
		err := r.Scan(&u.id, &u.site, &u.subject, &u.visit)
		return u, err
	}, cfg.Trial)
	if err != nil {
		return fmt.Errorf("reads: read unassigned cases: %w", err)
	}
	// The run changes these cases only: a lock elsewhere in the trial
	// does not stop it (db.Tx.Affects).
	for _, c := range cases {
		if err := tx.Affects(db.Scope{Trial: cfg.Trial, Site: c.site, Subject: c.subject, Visit: c.visit}); err != nil {
			return err
		}
	}
	readLoad, adjLoad := map[string]int{}, map[string]int{}
	if _, err := queryAll(ctx, tx, selectLoad, func(r row) (struct{}, error) {
		var id, kind string
		var n int
		err := r.Scan(&id, &kind, &n)
		if kind == KindAdjudication {
			adjLoad[id] += n
		} else {
			readLoad[id] += n
		}
		return struct{}{}, err
	}, cfg.Trial); err != nil {
		return fmt.Errorf("reads: read workloads: %w", err)
	}
	readers, readerByID := pool(readerMembers)
	adjudicators, adjByID := pool(adjMembers)

	// Cases are given by id to Assign, which orders them canonically, so
	// the output depends only on the seed and the set of inputs.
	in := make([]Case, len(cases))
	caseSite := make(map[string]string, len(cases))
	for i, c := range cases {
		in[i] = Case{ID: c.id, Site: c.site}
		caseSite[c.id] = c.site
	}
	double := cfg.Design.Design == DoubleAdjudicated
	var assigned []Assignment
	if len(in) > 0 {
		if len(readers) == 0 {
			return trialgate.Errorf(trialgate.EConflict, "trial %s has no active readers to assign %d cases to", cfg.Trial, len(in))
		}
		assigned, err = Assign(AssignRequest{Seed: seed, Double: double, Cases: in, Readers: readers, Load: readLoad})
		if err != nil {
			return err
		}
	}
	codes, err := s.caseCodes(ctx, tx, cfg.Trial)
	if err != nil {
		return err
	}
	now := s.now().UnixMicro()
	rows := make([][]any, 0, len(assigned))
	// add inserts the tasks of one case and records them in one entry:
	// who reads it, in which slot.
	add := func(caseID string, as []Assignment, byID map[string]auth.Member) error {
		var recorded []map[string]any
		for _, a := range as {
			who := byID[a.Reader]
			id := randomID("task-")
			rows = append(rows, []any{id, cfg.Trial, caseID, a.Kind, a.Slot, a.Reader, TaskAssigned, now, tx.Actor().ID, now})
			run.Tasks = append(run.Tasks, AssignedTask{ID: id, Case: codes[caseID], Reader: who.Username, Kind: a.Kind, Slot: a.Slot})
			recorded = append(recorded, map[string]any{"task": id, "reader": who.Username, "reader_id": who.ID,
				"kind": a.Kind, "slot": a.Slot, "status": TaskAssigned})
		}
		return tx.Audit(audit.Event{Action: audit.ActionReadAssigned, Object: caseObject(caseID), After: map[string]any{
			"case": codes[caseID], "tasks": recorded}})
	}
	for i := 0; i < len(assigned); {
		j := i + 1
		for j < len(assigned) && assigned[j].Case == assigned[i].Case {
			j++
		}
		if err := add(assigned[i].Case, assigned[i:j], readerByID); err != nil {
			return err
		}
		i = j
	}

	// Pending adjudications, oldest case first.
	pending, err := queryAll(ctx, tx, selectPendingAdjudication, func(r row) (readCase, error) { return scanCase(r) }, cfg.Trial)
	if err != nil {
		return fmt.Errorf("reads: read pending adjudications: %w", err)
	}
	for _, c := range pending {
		if err := tx.Affects(c.scope()); err != nil {
			return err
		}
		tasks, err := caseTasks(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		who, ok := chooseAdjudicator(seed, c, tasks, adjudicators, adjLoad)
		if !ok {
			run.Pending++
			continue
		}
		adjLoad[who]++
		if err := add(c.ID, []Assignment{{Case: c.ID, Reader: who, Kind: KindAdjudication, Slot: adjudicationSlot}}, adjByID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, setCaseStatus, c.ID, CaseAdjudicating, now); err != nil {
			return fmt.Errorf("reads: update case: %w", err)
		}
		if err := tx.Audit(audit.Event{Action: audit.ActionReadCaseEvaluated, Object: caseObject(c.ID),
			Before: map[string]string{"status": c.Status}, After: map[string]string{"status": CaseAdjudicating}}); err != nil {
			return err
		}
	}
	if err := tx.InsertRows(ctx, insertTask, rows); err != nil {
		return fmt.Errorf("reads: insert tasks: %w", err)
	}

	names := make([]string, len(readerMembers))
	for i, m := range readerMembers {
		names[i] = m.Username
	}
	return tx.Audit(audit.Event{Action: audit.ActionReadAssignmentRun, Object: audit.Object{Type: "trial", ID: cfg.Trial},
		After: map[string]any{"seed": seed, "algorithm": AssignAlgorithm, "trial_version": cfg.Version,
			"design": cfg.Design.Design, "cases_created": run.CasesCreated, "cases_assigned": len(in),
			"tasks": len(run.Tasks), "adjudications_pending": run.Pending, "readers": names,
			"input_sha256": inputDigest(in, readers, readLoad)}})
}

// chooseAdjudicator picks the adjudicator of a discordant case: an
// adjudicator who did neither read and is not of the case's site.
func chooseAdjudicator(seed string, c readCase, tasks []task, adjudicators []Reader, load map[string]int) (string, bool) {
	var excluded []string
	for _, t := range tasks {
		excluded = append(excluded, t.Reader)
	}
	who, err := AssignAdjudicator(seed, c.ID, c.Site, excluded, adjudicators, load)
	return who, err == nil
}

// inputDigest is the SHA-256 of an assignment's input in canonical form,
// recorded beside the seed: the same digest and seed give the same tasks.
func inputDigest(cases []Case, readers []Reader, load map[string]int) string {
	type reader struct {
		ID    string   `json:"id"`
		Sites []string `json:"sites"`
		Load  int      `json:"load"`
	}
	cs := slices.Clone(cases)
	slices.SortFunc(cs, func(a, b Case) int { return strings.Compare(a.ID, b.ID) })
	rs := make([]reader, len(readers))
	for i, r := range readers {
		sites := slices.Clone(r.Sites)
		slices.Sort(sites)
		rs[i] = reader{ID: r.ID, Sites: sites, Load: load[r.ID]}
	}
	slices.SortFunc(rs, func(a, b reader) int { return strings.Compare(a.ID, b.ID) })
	b, _ := json.Marshal(struct {
		Cases   []Case   `json:"cases"`
		Readers []reader `json:"readers"`
	}{cs, rs})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// caseCodes maps the case ids of a trial to their codes.
func (s *Service) caseCodes(ctx context.Context, q querier, trialID string) (map[string]string, error) {
	out := map[string]string{}
	_, err := queryAll(ctx, q, `SELECT id, code FROM read_cases WHERE trial_id = $1`, func(r row) (struct{}, error) {
		var id, code string
		err := r.Scan(&id, &code)
		out[id] = code
		return struct{}{}, err
	}, trialID)
	if err != nil {
		return nil, fmt.Errorf("reads: read case codes: %w", err)
	}
	return out, nil
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, query string, scan func(row) (T, error), args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

const (
	reassignTask = `UPDATE read_tasks SET reader_id = $2, updated_us = $3 WHERE id = $1 AND status = 'assigned'`
)

// Reassign gives an unstarted task (no draft saved) to another reader, by
// a data manager, with a reason. The new reader must hold the task's role
// in the trial, belong to no site of the case, and hold no other task of
// the case.
func (s *Service) Reassign(ctx context.Context, p *auth.Principal, taskID, username, reason string) (AssignedTask, error) {
	var t task
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		t, err = scanTask(r.QueryRow(ctx, selectTask, taskID))
		return err
	})
	switch {
	case isNoRows(err):
		return AssignedTask{}, s.denyTask(ctx, p, db.System, taskID, audit.ActionReadReassigned, "no such read task")
	case err != nil:
		return AssignedTask{}, fmt.Errorf("reads: read task: %w", err)
	}
	scope := db.TrialScope(t.Trial)
	if _, err := auth.Require(ctx, s.db, p, scope, taskObject(taskID),
		"only a data manager of the trial may reassign read tasks", auth.DataManager); err != nil {
		return AssignedTask{}, err
	}
	if reason, err = checkReason(reason, "to reassign a task"); err != nil {
		return AssignedTask{}, err
	}
	members, err := s.accounts.Members(ctx, t.Trial, t.role())
	if err != nil {
		return AssignedTask{}, err
	}
	name := strings.ToLower(strings.TrimSpace(username))
	i := slices.IndexFunc(members, func(m auth.Member) bool { return m.Username == name })
	if i < 0 {
		return AssignedTask{}, trialgate.Errorf(trialgate.EInvalid, "reader: %q is not an active %s of trial %s", clip(username), t.role(), t.Trial)
	}
	who := members[i]
	var out AssignedTask
	err = s.db.Write(ctx, p.Actor(auth.DataManager), scope, func(tx *db.Tx) error {
		c, err := loadCase(ctx, tx, t.Case)
		if err != nil {
			return err
		}
		if err := tx.Affects(c.scope()); err != nil {
			return err
		}
		tasks, err := caseTasks(ctx, tx, t.Case)
		if err != nil {
			return err
		}
		cur := tasks[slices.IndexFunc(tasks, func(x task) bool { return x.ID == t.ID })]
		switch {
		case cur.Status != TaskAssigned:
			return trialgate.Errorf(trialgate.EConflict, "task %s is %s: only an unstarted task may be reassigned", t.ID, cur.Status)
		case slices.Contains(who.Sites, c.Site):
			return trialgate.Errorf(trialgate.EConflict, "reader: %s belongs to the case's site and may not read it", who.Username)
		case slices.ContainsFunc(tasks, func(x task) bool { return x.Reader == who.ID }):
			return trialgate.Errorf(trialgate.EConflict, "reader: %s already holds a task of this case", who.Username)
		}
		n, err := tx.Exec(ctx, reassignTask, t.ID, who.ID, s.now().UnixMicro())
		if err != nil {
			return fmt.Errorf("reads: reassign: %w", err)
		}
		if n != 1 {
			return trialgate.Errorf(trialgate.EConflict, "task %s was started while reassigning", t.ID)
		}
		out = AssignedTask{ID: t.ID, Case: c.Code, Reader: who.Username, Kind: t.Kind, Slot: t.Slot}
		return tx.Audit(audit.Event{Action: audit.ActionReadReassigned, Object: taskObject(t.ID),
			Before: map[string]any{"reader_id": cur.Reader}, After: map[string]any{"reader_id": who.ID, "reader": who.Username},
			Reason: reason})
	})
	return out, err
}
