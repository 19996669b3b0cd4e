package lock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/trial"
)

// Lock is a lock with its release, as shown to users.
type Lock struct {
	ID             string             `json:"id"`
	Trial          string             `json:"trial"`
	Scope          string             `json:"scope"` // the scope path
	Kind           string             `json:"kind"`  // trial, site, subject, visit
	Site           string             `json:"site,omitempty"`
	Subject        string             `json:"subject,omitempty"`
	Visit          string             `json:"visit,omitempty"`
	LockedBy       string             `json:"locked_by"` // username
	LockedByName   string             `json:"locked_by_name"`
	LockedAt       string             `json:"locked_at"`
	Meaning        string             `json:"meaning"`
	Reason         string             `json:"reason"`
	RecordSHA256   string             `json:"record_sha256"` // of the signed lock record
	Root           string             `json:"root"`          // hex RFC 6962 root of the manifest
	Leaves         int                `json:"leaves"`
	ReleaseSigners int                `json:"release_signers"`
	InForce        bool               `json:"in_force"`
	ReleasedAt     string             `json:"released_at,omitempty"`
	Release        []ReleaseSignature `json:"release_signatures"`
	// Retention is the WORM retention of the lock's objects at the
	// store: empty where the store offers none, or until it is placed.
	Retention []RetentionEvent `json:"retention"`
	// Receipt is the audit entry of the action just taken (apply or a
	// release signature), once chained.
	Receipt *Receipt `json:"receipt,omitempty"`
}

// ReleaseSignature is one signature of a lock's release.
type ReleaseSignature struct {
	N            int    `json:"n"`
	SignerName   string `json:"signer_name"`
	Role         string `json:"role"`
	Meaning      string `json:"meaning"`
	Reason       string `json:"reason"`
	SignedAt     string `json:"signed_at"`
	RecordSHA256 string `json:"record_sha256"`
	signerID     string
}

// Receipt locates an audit entry in its chain.
type Receipt struct {
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Hash  string `json:"hash"`
}

// Manifest is a lock with its leaves.
type Manifest struct {
	Lock   Lock   `json:"lock"`
	Leaves []Leaf `json:"leaves"`
}

// ApplyInput is a request to lock a scope.
type ApplyInput struct {
	ScopeInput
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
	Reason   string `json:"reason"`
}

// ReleaseInput is a request to release a lock (or sign its release).
type ReleaseInput struct {
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
	Reason   string `json:"reason"`
}

const (
	insertLock = `INSERT INTO locks (id, trial_id, scope, kind, site, subject, visit, locked_us, locked_by, locked_by_name,
		meaning, reason, record_sha256, root, leaves, release_signers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
	insertLeaves  = `INSERT INTO lock_leaves (lock_id, idx, kind, ref, value, hash)`
	selectInScope = `SELECT id FROM locks WHERE trial_id = $1 AND scope = $2 AND released_us IS NULL`
	lockColumns   = `id, trial_id, scope, kind, site, subject, visit, locked_us, locked_by, locked_by_name,
		meaning, reason, record_sha256, root, leaves, release_signers, released_us`
	selectLock       = `SELECT ` + lockColumns + ` FROM locks WHERE id = $1`
	selectTrialLocks = `SELECT ` + lockColumns + ` FROM locks WHERE trial_id = $1 ORDER BY locked_us, id`
	selectSignatures = `SELECT lock_id, n, signer_id, signer_name, role, meaning, reason, record_sha256, signed_us
		FROM lock_release_signatures WHERE lock_id IN (SELECT id FROM locks WHERE trial_id = $1) ORDER BY lock_id, n`
	selectLeaves   = `SELECT kind, ref, value, hash FROM lock_leaves WHERE lock_id = $1 ORDER BY idx`
	insertRelSig   = `INSERT INTO lock_release_signatures (lock_id, n, signer_id, signer_name, role, meaning, reason, record_sha256, signed_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	countRelSigs   = `SELECT count(*) FROM lock_release_signatures WHERE lock_id = $1`
	updateReleased = `UPDATE locks SET released_us = $2 WHERE id = $1 AND released_us IS NULL`
)

// receiptWait bounds the wait for the sequencer before a receipt is
// returned without its seq.
const receiptWait = 10 * time.Second

func lockObject(id string) audit.Object { return audit.Object{Type: "lock", ID: id} }

// failed records a refused lock action (bad input, a conflict) and
// returns err.
func (s *Service) failed(ctx context.Context, p *auth.Principal, role auth.Role, scope db.Scope, action audit.Action, obj audit.Object, err error) error {
	if rerr := s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: action, Object: obj,
		Outcome: audit.Failed, Reason: trialgate.ErrorMessage(err)}); rerr != nil && !errors.Is(rerr, db.ErrNoTrial) {
		return rerr
	}
	return err
}

// definition returns the trial's approved definition.
func (s *Service) definition(ctx context.Context, trialID string) (*trial.Definition, error) {
	v, err := s.trials.Approved(ctx, trialID)
	if err != nil {
		return nil, err
	}
	d, err := trial.ParseDefinition(v.Definition)
	if err != nil {
		return nil, fmt.Errorf("lock: stored definition of %s: %w", trialID, err)
	}
	return d, nil
}

// Apply locks a scope of a trial with the data manager's electronic
// signature (password re-entered; meaning lock or approval) and a reason.
// The signed record binds the lock's id, scope and reason; the lock's
// audit entry carries the signature and the manifest's root, and the
// returned lock its receipt. A scope already locked is a conflict; a lock inside (or
// around) another lock is allowed and independent.
func (s *Service) Apply(ctx context.Context, p *auth.Principal, trialID string, in ApplyInput) (*Lock, error) {
	tscope := db.TrialScope(trialID)
	attempt := audit.Object{Type: "lock", ID: "new"}
	role, err := auth.Require(ctx, s.db, p, tscope, attempt, "only a data manager of the trial may lock its data", auth.DataManager)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Lock, error) {
		return nil, s.failed(ctx, p, role, tscope, audit.ActionLockApplied, attempt, err)
	}
	def, err := s.definition(ctx, trialID)
	if err != nil {
		return fail(err)
	}
	scope, err := s.resolve(ctx, trialID, in.ScopeInput, def)
	if err != nil {
		return fail(err)
	}
	reason, err := checkReason(in.Reason, "to lock data")
	if err != nil {
		return fail(err)
	}
	if in.Meaning != auth.MeaningLock && in.Meaning != auth.MeaningApproval {
		return fail(trialgate.Errorf(trialgate.EInvalid, "meaning: %q: a lock is signed with meaning %s (or %s)",
			clip(in.Meaning), auth.MeaningLock, auth.MeaningApproval))
	}
	var taken string
	if err := s.db.Read(ctx, func(r *db.Reader) error {
		if err := r.QueryRow(ctx, selectInScope, trialID, scope.String()).Scan(&taken); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("lock: look up scope: %w", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if taken != "" {
		return fail(trialgate.Errorf(trialgate.EConflict, "%s is already locked by lock %s", scope, taken))
	}
	// The signature attests the lock (its id, scope and reason); the
	// manifest's root is computed behind the fence, where writes cannot
	// move it, and recorded on the same audit entry as the signature.
	id := randomID()
	record, err := audit.Canonical(map[string]any{"action": "apply data lock", "lock": id, "trial": trialID,
		"scope": scope.String(), "reason": reason})
	if err != nil {
		return nil, fmt.Errorf("lock: record: %w", err)
	}
	sig, err := s.accounts.Sign(ctx, p, in.Password, in.Meaning, record)
	if err != nil {
		return nil, err
	}
	signers := def.Locks.Signers()
	err = s.db.Write(ctx, p.Actor(role), scope, func(tx *db.Tx) error {
		if err := fence(ctx, tx, trialID); err != nil {
			return err
		}
		var other string
		if err := tx.QueryRow(ctx, selectInScope, trialID, scope.String()).Scan(&other); err == nil {
			return trialgate.Errorf(trialgate.EConflict, "%s is already locked by lock %s", scope, other)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("lock: look up scope: %w", err)
		}
		leaves, err := manifest(ctx, tx.Query, scope)
		if err != nil {
			return err
		}
		root, err := Root(leaves)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, insertLock, id, trialID, scope.String(), kindOf(scope), scope.Site, scope.Subject, scope.Visit,
			s.now().UnixMicro(), p.User.Username, sig.Name, sig.Meaning, reason, sig.RecordSHA256, root, len(leaves), signers); err != nil {
			if errors.Is(err, db.ErrDuplicate) {
				return trialgate.Errorf(trialgate.EConflict, "%s is already locked", scope)
			}
			return fmt.Errorf("lock: insert lock: %w", err)
		}
		rows := make([][]any, len(leaves))
		for i, l := range leaves {
			rows[i] = []any{id, i, l.Kind, l.Ref, l.Value, l.Hash}
		}
		for len(rows) > 0 {
			n := min(len(rows), 5000)
			if err := tx.InsertRows(ctx, insertLeaves, rows[:n]); err != nil {
				return fmt.Errorf("lock: insert manifest: %w", err)
			}
			rows = rows[n:]
		}
		return tx.Audit(audit.Event{Action: audit.ActionLockApplied, Object: lockObject(id), Reason: reason, Signature: &sig,
			After: map[string]any{"scope": scope.String(), "kind": kindOf(scope), "root": root, "leaves": len(leaves),
				"release_signers": signers}})
	})
	if err != nil {
		if trialgate.ErrorCode(err) == trialgate.EConflict {
			return fail(err)
		}
		return nil, err
	}
	s.wakeRetention()
	l, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	l.Receipt, err = s.receipt(ctx, trialID, id, audit.ActionLockApplied)
	return l, err
}

// fence serialises lock changes with guarded writes in the trial (see the
// package doc). SQLite's single writer already does.
func fence(ctx context.Context, tx *db.Tx, trialID string) error {
	if tx.Dialect() != "postgres" {
		return nil
	}
	var one int
	if err := tx.QueryRow(ctx, updateTrial, trialID).Scan(&one); err != nil {
		return fmt.Errorf("lock: fence trial %s: %w", trialID, err)
	}
	return nil
}

// Release signs the release of a lock (password re-entered; meaning unlock
// or approval) with a mandatory reason. The first signer is a data
// manager of the trial; when the trial requires two signers, the lock
// holds until a second one (another data manager, or a QA reviewer, never
// the first signer) signs too. Releasing a released lock is a conflict.
func (s *Service) Release(ctx context.Context, p *auth.Principal, id string, in ReleaseInput) (*Lock, error) {
	obj := lockObject(id)
	l, err := s.get(ctx, id)
	if trialgate.ErrorCode(err) == trialgate.ENotFound {
		return nil, s.failed(ctx, p, "", db.System, audit.ActionLockReleased, obj, err)
	}
	if err != nil {
		return nil, err
	}
	tscope := db.TrialScope(l.Trial)
	roles := []auth.Role{auth.DataManager}
	msg := "only a data manager of the trial may release its locks"
	if len(l.Release) > 0 {
		roles = append(roles, auth.QAReviewer)
		msg = "only a data manager or QA reviewer of the trial may sign a lock's release"
	}
	role, err := auth.Require(ctx, s.db, p, tscope, obj, msg, roles...)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Lock, error) {
		return nil, s.failed(ctx, p, role, tscope, audit.ActionLockReleased, obj, err)
	}
	switch {
	case !l.InForce:
		return fail(trialgate.Errorf(trialgate.EConflict, "lock %s was released on %s", id, l.ReleasedAt))
	case len(l.Release) > 0 && l.Release[0].signerID == p.User.ID:
		return fail(trialgate.Errorf(trialgate.EConflict, "lock %s: the second release signature must be someone else's than the first signer's (%s)",
			id, l.Release[0].SignerName))
	}
	reason, err := checkReason(in.Reason, "to release a lock")
	if err != nil {
		return fail(err)
	}
	if in.Meaning != auth.MeaningUnlock && in.Meaning != auth.MeaningApproval {
		return fail(trialgate.Errorf(trialgate.EInvalid, "meaning: %q: a release is signed with meaning %s (or %s)",
			clip(in.Meaning), auth.MeaningUnlock, auth.MeaningApproval))
	}
	n := len(l.Release) + 1
	record, err := audit.Canonical(map[string]any{"action": "release data lock", "lock": id, "trial": l.Trial,
		"scope": l.Scope, "root": l.Root, "reason": reason, "signature": n, "of": l.ReleaseSigners})
	if err != nil {
		return nil, fmt.Errorf("lock: record: %w", err)
	}
	sig, err := s.accounts.Sign(ctx, p, in.Password, in.Meaning, record)
	if err != nil {
		return nil, err
	}
	scope, err := ParseScope(l.Scope)
	if err != nil {
		return nil, err
	}
	action := audit.ActionLockReleaseSigned
	if n >= l.ReleaseSigners {
		action = audit.ActionLockReleased
	}
	err = s.db.Write(ctx, p.Actor(role), scope, func(tx *db.Tx) error {
		if err := fence(ctx, tx, l.Trial); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, countRelSigs, id).Scan(&have); err != nil {
			return fmt.Errorf("lock: release signatures: %w", err)
		}
		if have != n-1 {
			return trialgate.Errorf(trialgate.EConflict, "lock %s: another release signature was recorded meanwhile; reload", id)
		}
		now := s.now().UnixMicro()
		if _, err := tx.Exec(ctx, insertRelSig, id, n, p.User.ID, sig.Name, string(role), sig.Meaning, reason, sig.RecordSHA256, now); err != nil {
			if errors.Is(err, db.ErrDuplicate) {
				return trialgate.Errorf(trialgate.EConflict, "lock %s: this signer has already signed its release", id)
			}
			return fmt.Errorf("lock: insert release signature: %w", err)
		}
		after := map[string]any{"release_signatures": n, "release_signers": l.ReleaseSigners, "in_force": true}
		if action == audit.ActionLockReleased {
			m, err := tx.Exec(ctx, updateReleased, id, now)
			if err != nil {
				return fmt.Errorf("lock: release: %w", err)
			}
			if m != 1 {
				return trialgate.Errorf(trialgate.EConflict, "lock %s was released meanwhile", id)
			}
			after["in_force"] = false
		}
		return tx.Audit(audit.Event{Action: action, Object: obj, Reason: reason, Signature: &sig,
			Before: map[string]any{"release_signatures": n - 1, "in_force": true}, After: after})
	})
	if err != nil {
		if trialgate.ErrorCode(err) == trialgate.EConflict {
			return fail(err)
		}
		return nil, err
	}
	if action == audit.ActionLockReleased {
		s.wakeRetention()
	}
	out, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	out.Receipt, err = s.receipt(ctx, l.Trial, id, action)
	return out, err
}

// receipt waits for the sequencer and returns where the newest entry of
// action on the lock was chained.
func (s *Service) receipt(ctx context.Context, trialID, id string, action audit.Action) (*Receipt, error) {
	if err := s.db.WaitChainedFor(ctx, receiptWait); err != nil {
		return nil, err
	}
	var r *Receipt
	err := s.db.AuditRecords(ctx, audit.Filter{Chains: []string{audit.ChainOf(trialID)}, Object: "lock/" + id, Action: action},
		func(rec *audit.Record) error {
			r = &Receipt{Chain: rec.Chain, Seq: rec.Seq, Hash: rec.Hash.String()}
			return nil
		})
	return r, err
}

// scanLock reads a row of lockColumns.
func scanLock(row interface{ Scan(...any) error }) (Lock, error) {
	var l Lock
	var lockedUS int64
	var released sql.NullInt64
	err := row.Scan(&l.ID, &l.Trial, &l.Scope, &l.Kind, &l.Site, &l.Subject, &l.Visit, &lockedUS, &l.LockedBy, &l.LockedByName,
		&l.Meaning, &l.Reason, &l.RecordSHA256, &l.Root, &l.Leaves, &l.ReleaseSigners, &released)
	l.LockedAt = formatTime(lockedUS)
	l.InForce = !released.Valid
	if released.Valid {
		l.ReleasedAt = formatTime(released.Int64)
	}
	l.Release = []ReleaseSignature{}
	l.Retention = []RetentionEvent{}
	return l, err
}

// get loads one lock with its release signatures.
func (s *Service) get(ctx context.Context, id string) (*Lock, error) {
	var l Lock
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		l, err = scanLock(r.QueryRow(ctx, selectLock, id))
		if errors.Is(err, sql.ErrNoRows) {
			return trialgate.Errorf(trialgate.ENotFound, "no lock %s", clip(id))
		}
		if err != nil {
			return fmt.Errorf("lock: load %s: %w", id, err)
		}
		sigs, err := signatures(ctx, r, l.Trial)
		if err != nil {
			return err
		}
		l.Release = append(l.Release, sigs[l.ID]...)
		ret, err := retentions(ctx, r, l.Trial)
		l.Retention = append(l.Retention, ret[l.ID]...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

func signatures(ctx context.Context, r *db.Reader, trialID string) (map[string][]ReleaseSignature, error) {
	rows, err := r.Query(ctx, selectSignatures, trialID)
	if err != nil {
		return nil, fmt.Errorf("lock: release signatures: %w", err)
	}
	defer rows.Close()
	out := map[string][]ReleaseSignature{}
	for rows.Next() {
		var id string
		var us int64
		var rs ReleaseSignature
		if err := rows.Scan(&id, &rs.N, &rs.signerID, &rs.SignerName, &rs.Role, &rs.Meaning, &rs.Reason, &rs.RecordSHA256, &us); err != nil {
			return nil, fmt.Errorf("lock: release signatures: %w", err)
		}
		rs.SignedAt = formatTime(us)
		out[id] = append(out[id], rs)
	}
	return out, rows.Err()
}

// viewerRoles may see a trial's locks and manifests.
var viewerRoles = []auth.Role{auth.DataManager, auth.QAReviewer, auth.Inspector, auth.QCReviewer}

// List returns every lock of a trial, in force or released, oldest first,
// with their release signatures: the trial's lock history.
func (s *Service) List(ctx context.Context, p *auth.Principal, trialID string) ([]Lock, error) {
	scope := db.TrialScope(trialID)
	obj := audit.Object{Type: "trial", ID: trialID}
	role, err := auth.Require(ctx, s.db, p, scope, obj, "only a data manager, QA reviewer, QC reviewer or inspector of the trial may see its locks", viewerRoles...)
	if err != nil {
		return nil, err
	}
	out := []Lock{}
	err = s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, selectTrialLocks, trialID)
		if err != nil {
			return fmt.Errorf("lock: list: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLock(rows)
			if err != nil {
				return fmt.Errorf("lock: list: %w", err)
			}
			out = append(out, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		sigs, err := signatures(ctx, r, trialID)
		if err != nil {
			return err
		}
		ret, err := retentions(ctx, r, trialID)
		for i := range out {
			out[i].Release = append(out[i].Release, sigs[out[i].ID]...)
			out[i].Retention = append(out[i].Retention, ret[out[i].ID]...)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: audit.ActionLockViewed, Object: obj,
		After: map[string]any{"locks": len(out)}})
}

// authorizeLock loads a lock and checks that p may see it.
func (s *Service) authorizeLock(ctx context.Context, p *auth.Principal, id string, action audit.Action) (*Lock, auth.Role, error) {
	l, err := s.get(ctx, id)
	if trialgate.ErrorCode(err) == trialgate.ENotFound {
		return nil, "", s.failed(ctx, p, "", db.System, action, lockObject(id), err)
	}
	if err != nil {
		return nil, "", err
	}
	role, err := auth.Require(ctx, s.db, p, db.TrialScope(l.Trial), lockObject(id),
		"only a data manager, QA reviewer, QC reviewer or inspector of the trial may see its locks", viewerRoles...)
	return l, role, err
}

// Manifest returns a lock and the leaves it recorded.
func (s *Service) Manifest(ctx context.Context, p *auth.Principal, id string) (*Manifest, error) {
	l, role, err := s.authorizeLock(ctx, p, id, audit.ActionLockViewed)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Lock: *l}
	if m.Leaves, err = s.leaves(ctx, id); err != nil {
		return nil, err
	}
	scope, err := ParseScope(l.Scope)
	if err != nil {
		return nil, err
	}
	return m, s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: audit.ActionLockViewed, Object: lockObject(id),
		After: map[string]any{"manifest": true, "leaves": len(m.Leaves)}})
}

func (s *Service) leaves(ctx context.Context, id string) ([]Leaf, error) {
	out := []Leaf{}
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, selectLeaves, id)
		if err != nil {
			return fmt.Errorf("lock: manifest: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var l Leaf
			if err := rows.Scan(&l.Kind, &l.Ref, &l.Value, &l.Hash); err != nil {
				return fmt.Errorf("lock: manifest: %w", err)
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// Verify recomputes a lock's manifest from the data in its scope now and
// compares it with the one recorded: OK when the recorded leaves still
// hash to the recorded root and every record in the scope is unchanged,
// none added and none removed. For a released lock, differences since the
// release are expected and reported as such (Released).
func (s *Service) Verify(ctx context.Context, p *auth.Principal, id string) (*Comparison, error) {
	l, role, err := s.authorizeLock(ctx, p, id, audit.ActionLockVerified)
	if err != nil {
		return nil, err
	}
	return s.verify(ctx, p.Actor(role), l)
}

func (s *Service) verify(ctx context.Context, actor audit.Actor, l *Lock) (*Comparison, error) {
	id := l.ID
	recorded, err := s.leaves(ctx, id)
	if err != nil {
		return nil, err
	}
	scope, err := ParseScope(l.Scope)
	if err != nil {
		return nil, err
	}
	var now []Leaf
	if err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		now, err = manifest(ctx, r.Query, scope)
		return err
	}); err != nil {
		return nil, err
	}
	rootThen, err := Root(recorded)
	if err != nil {
		return nil, err
	}
	rootNow, err := Root(now)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Lock: id, Root: l.Root, RootNow: rootNow, Leaves: len(recorded), Released: !l.InForce,
		Checked: s.now().Format(audit.TimeFormat)}
	c.Changed, c.Added, c.Removed = compare(recorded, now)
	c.OK = rootThen == l.Root && len(recorded) == l.Leaves && rootNow == l.Root &&
		len(c.Changed)+len(c.Added)+len(c.Removed) == 0
	outcome := audit.Success
	if !c.OK {
		outcome = audit.Failed
	}
	ev := audit.Event{Action: audit.ActionLockVerified, Object: lockObject(id), Outcome: outcome,
		After: map[string]any{"ok": c.OK, "root": l.Root, "root_now": rootNow, "changed": len(c.Changed),
			"added": len(c.Added), "removed": len(c.Removed)}}
	if err := s.db.Record(ctx, actor, scope, ev); err != nil {
		return nil, err
	}
	return c, nil
}
