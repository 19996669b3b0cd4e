package trial

// The stored definitions: immutable, numbered versions, each change with its
// reason, each approval an electronic signature.
//
// The signed record of a version is exactly the definition bytes stored
// with it (Definition.Canonical at the time of writing); approvals are
// verified against those stored bytes, never against a re-encoding, so any
// change to the stored bytes shows as a signature mismatch.
import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// MaxReason bounds a change reason, in bytes.
const MaxReason = 2000

// Service creates, changes, reads and approves trial definitions. Only a
// data manager of a trial defines, changes and approves it (an
// administrator manages accounts and grants, never trial data); anyone who
// takes part in the trial reads it. Every refusal is recorded.
type Service struct {
	db    *db.DB
	auth  *auth.Service
	clock func() time.Time
}

// NewService returns a Service over d that signs with a. clock may be nil
// (the system clock).
func NewService(d *db.DB, a *auth.Service, clock func() time.Time) *Service {
	if clock == nil {
		clock = time.Now
	}
	return &Service{db: d, auth: a, clock: clock}
}

// chainWait bounds how long an approval waits for its entry to be chained.
const chainWait = 2 * time.Second

// scopeOf is the scope of a trial named by a caller: the system scope when
// the id is not valid, since it names no trial's chain.
func scopeOf(id string) db.Scope {
	if !ValidID(id) {
		return db.System
	}
	return db.TrialScope(id)
}

// asDataManager checks that p is a data manager of trial id, which exists,
// recording a refusal (msg) otherwise (auth.Require: "no trial" for a
// trial that does not exist).
func (s *Service) asDataManager(ctx context.Context, p *auth.Principal, id, msg string) error {
	sc := scopeOf(id)
	if sc.IsSystem() {
		return auth.Deny(ctx, s.db, p, sc, trialObject(id), msg)
	}
	_, err := auth.Require(ctx, s.db, p, sc, trialObject(id), msg, auth.DataManager)
	return err
}

// Approval is the manifestation of a version's approval signature.
type Approval struct {
	Signature audit.Signature
	// Valid is nil when the signature verifies against the stored bytes,
	// else the reason it does not (auth.ErrSignatureMismatch when the
	// bytes changed after signing).
	Valid error
}

// Version is one stored version of a trial's definition.
type Version struct {
	Trial      string
	Version    int
	Definition []byte // the stored canonical bytes: the signed record
	SHA256     string // hex SHA-256 of Definition, as stored
	Created    time.Time
	CreatedBy  string // user id or system:<component>
	AuthorName string
	Reason     string // "" for version 1
	Approval   *Approval
}

// Trial is a trial with its current version and the list of all versions.
type Trial struct {
	ID       string
	Name     string
	Current  Version
	Versions []Version // every version, oldest first
}

// Summary is what the audit trail records about a definition.
type Summary struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Sites   int    `json:"sites"`
	Visits  int    `json:"visits"`
	QCRules int    `json:"qc_rules"`
	Design  string `json:"read_design"`
}

func summaryOf(d *Definition, version int, sum string) Summary {
	return Summary{Version: version, Name: d.Name, SHA256: sum, Sites: len(d.Sites), Visits: len(d.Visits),
		QCRules: len(d.QC.Rules), Design: d.Reads.Design}
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func trialObject(id string) audit.Object { return audit.Object{Type: "trial", ID: id} }

func versionObject(id string, n int) audit.Object {
	return audit.Object{Type: "trial_version", ID: fmt.Sprintf("%s/%d", id, n)}
}

const (
	insertTrial   = `INSERT INTO trials (id, name, current_version, created_us, created_by, updated_us) VALUES ($1, $2, 1, $3, $4, $3)`
	selectCurrent = `SELECT current_version FROM trials WHERE id = $1`
	advanceTrial  = `UPDATE trials SET name = $2, current_version = $3, updated_us = $4 WHERE id = $1 AND current_version = $5`
	insertVersion = `INSERT INTO trial_versions (trial_id, version, definition, sha256, created_us, created_by, created_by_name, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	versionColumns = `trial_id, version, definition, sha256, created_us, created_by, created_by_name, reason,
		approved_by, approved_name, approved_at, approved_meaning, approved_sha256`
	selectVersion    = `SELECT ` + versionColumns + ` FROM trial_versions WHERE trial_id = $1 AND version = $2`
	selectVersionSHA = `SELECT sha256 FROM trial_versions WHERE trial_id = $1 AND version = $2`
	selectVersions   = `SELECT ` + versionColumns + ` FROM trial_versions WHERE trial_id = $1 ORDER BY version`
	selectTrial      = `SELECT name, current_version FROM trials WHERE id = $1`
	approveVersion   = `UPDATE trial_versions SET approved_by = $3, approved_name = $4, approved_at = $5,
		approved_meaning = $6, approved_sha256 = $7
		WHERE trial_id = $1 AND version = $2 AND approved_by IS NULL AND sha256 = $8 AND definition = $9`
)

// Create defines a new trial from its definition's JSON, as its version 1,
// audited as trial.created, by a data manager of the trial the JSON names.
// The role is checked on that id before the definition is validated, so
// that only a data manager of the trial learns what is wrong with it. A
// trial id already in use gives trialgate.EConflict.
func (s *Service) Create(ctx context.Context, p *auth.Principal, raw []byte) (Version, error) {
	var head struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &head) // a malformed id is refused below
	const msg = "only a data manager of the trial may define it"
	if sc := scopeOf(head.ID); sc.IsSystem() {
		return Version{}, auth.Deny(ctx, s.db, p, sc, trialObject(head.ID), msg)
	} else if _, err := auth.RequireNew(ctx, s.db, p, sc, trialObject(head.ID), msg, auth.DataManager); err != nil {
		return Version{}, err
	}
	def, err := ParseDefinition(raw)
	if err != nil {
		return Version{}, err
	}
	b, err := def.Canonical()
	if err != nil {
		return Version{}, err
	}
	by := p.Actor(auth.DataManager)
	now := s.clock().UTC().Truncate(time.Microsecond)
	v := Version{Trial: def.ID, Version: 1, Definition: b, SHA256: hashOf(b), Created: now,
		CreatedBy: by.ID, AuthorName: authorName(by)}
	err = s.db.Write(ctx, by, db.TrialScope(def.ID), func(tx *db.Tx) error {
		var cur int
		switch err := tx.QueryRow(ctx, selectCurrent, def.ID).Scan(&cur); {
		case err == nil:
			return trialgate.Errorf(trialgate.EConflict, "trial %q already exists (version %d): change it with PUT", def.ID, cur)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("trial: look up trial: %w", err)
		}
		if _, err := tx.Exec(ctx, insertTrial, def.ID, def.Name, now.UnixMicro(), by.ID); err != nil {
			return fmt.Errorf("trial: insert trial: %w", err)
		}
		if _, err := tx.Exec(ctx, insertVersion, def.ID, 1, b, v.SHA256, now.UnixMicro(), by.ID, v.AuthorName, ""); err != nil {
			return fmt.Errorf("trial: insert version: %w", err)
		}
		return tx.Audit(audit.Event{Action: audit.ActionTrialCreated, Object: trialObject(def.ID),
			After: summaryOf(def, 1, v.SHA256)})
	})
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// authorName is the printed name of an actor: a person's full name, else
// the actor id (a system component).
func authorName(a audit.Actor) string {
	if a.FullName != "" {
		return a.FullName
	}
	return a.ID
}

// Change records the definition in raw as the next version of trial id,
// with a required reason, audited as trial.changed (before/after versions
// and the reason), by a data manager of the trial. Old versions stay
// readable. A definition identical to the current one is refused
// (trialgate.EConflict), as is a change raced by another.
func (s *Service) Change(ctx context.Context, p *auth.Principal, id string, raw []byte, reason string) (Version, error) {
	if err := s.asDataManager(ctx, p, id, "only a data manager of the trial may change its definition"); err != nil {
		return Version{}, err
	}
	switch {
	case len(raw) == 0:
		return Version{}, trialgate.Errorf(trialgate.EInvalid, "definition: required")
	case reason == "":
		return Version{}, trialgate.Errorf(trialgate.EInvalid, "reason: required for a change")
	case len(reason) > MaxReason:
		return Version{}, trialgate.Errorf(trialgate.EInvalid, "reason: longer than %d bytes", MaxReason)
	}
	def, err := ParseDefinition(raw)
	if err != nil {
		return Version{}, err
	}
	if def.ID != id {
		return Version{}, trialgate.Errorf(trialgate.EInvalid, "definition.id: %q does not match the trial %q being changed", def.ID, id)
	}
	b, err := def.Canonical()
	if err != nil {
		return Version{}, err
	}
	by := p.Actor(auth.DataManager)
	now := s.clock().UTC().Truncate(time.Microsecond)
	v := Version{Trial: def.ID, Definition: b, SHA256: hashOf(b), Created: now, CreatedBy: by.ID,
		AuthorName: authorName(by), Reason: reason}
	err = s.db.Write(ctx, by, db.TrialScope(id), func(tx *db.Tx) error {
		var cur int
		switch err := tx.QueryRow(ctx, selectCurrent, id).Scan(&cur); {
		case errors.Is(err, sql.ErrNoRows):
			return db.NoTrial(id)
		case err != nil:
			return fmt.Errorf("trial: look up trial: %w", err)
		}
		var prev string
		if err := tx.QueryRow(ctx, selectVersionSHA, id, cur).Scan(&prev); err != nil {
			return fmt.Errorf("trial: read current version: %w", err)
		}
		if prev == v.SHA256 {
			return trialgate.Errorf(trialgate.EConflict, "the definition is identical to version %d: nothing to change", cur)
		}
		v.Version = cur + 1
		n, err := tx.Exec(ctx, advanceTrial, id, def.Name, v.Version, now.UnixMicro(), cur)
		if err != nil {
			return fmt.Errorf("trial: advance trial: %w", err)
		}
		if n != 1 {
			return trialgate.Errorf(trialgate.EConflict, "trial %q changed concurrently; retry", id)
		}
		if _, err := tx.Exec(ctx, insertVersion, id, v.Version, b, v.SHA256, now.UnixMicro(), by.ID,
			v.AuthorName, reason); err != nil {
			return fmt.Errorf("trial: insert version: %w", err)
		}
		return tx.Audit(audit.Event{Action: audit.ActionTrialChanged, Object: trialObject(id),
			Before: map[string]any{"version": cur, "sha256": prev},
			After:  summaryOf(def, v.Version, v.SHA256), Reason: reason})
	})
	if err != nil {
		return Version{}, err
	}
	return v, nil
}

// scanVersion reads one row of versionColumns and verifies its approval, if
// any, against the stored bytes.
func scanVersion(sc interface{ Scan(...any) error }) (Version, error) {
	var v Version
	var createdUS int64
	var by, name, at, meaning, sum sql.NullString
	if err := sc.Scan(&v.Trial, &v.Version, &v.Definition, &v.SHA256, &createdUS, &v.CreatedBy, &v.AuthorName,
		&v.Reason, &by, &name, &at, &meaning, &sum); err != nil {
		return Version{}, err
	}
	v.Created = time.UnixMicro(createdUS).UTC()
	if by.Valid {
		sig := audit.Signature{Signer: by.String, Name: name.String, Meaning: meaning.String, Time: at.String,
			RecordSHA256: sum.String}
		v.Approval = &Approval{Signature: sig, Valid: auth.VerifySignature(sig, v.Definition)}
	}
	return v, nil
}

// asMember checks that p takes part in trial id (auth.Principal.Member),
// which exists, recording a refusal otherwise: "no trial" for a trial that
// does not exist, whoever asks (auth.Deny, auth.Exists).
func (s *Service) asMember(ctx context.Context, p *auth.Principal, id string) error {
	if _, ok := p.Member(id); !ok || !ValidID(id) {
		return auth.Deny(ctx, s.db, p, scopeOf(id), trialObject(id), "no role in this trial")
	}
	return auth.Exists(ctx, s.db, p, db.TrialScope(id), trialObject(id))
}

// Get returns a trial with its current version and every version, for a
// caller who takes part in it.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id string) (Trial, error) {
	if err := s.asMember(ctx, p, id); err != nil {
		return Trial{}, err
	}
	return s.get(ctx, id)
}

// get reads a trial with every version.
func (s *Service) get(ctx context.Context, id string) (Trial, error) {
	t := Trial{ID: id}
	var cur int
	err := s.db.Read(ctx, func(r *db.Reader) error {
		switch err := r.QueryRow(ctx, selectTrial, id).Scan(&t.Name, &cur); {
		case errors.Is(err, sql.ErrNoRows):
			return db.NoTrial(id)
		case err != nil:
			return fmt.Errorf("trial: read trial: %w", err)
		}
		rows, err := r.Query(ctx, selectVersions, id)
		if err != nil {
			return fmt.Errorf("trial: read versions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scanVersion(rows)
			if err != nil {
				return fmt.Errorf("trial: read version: %w", err)
			}
			t.Versions = append(t.Versions, v)
		}
		return rows.Err()
	})
	if err != nil {
		return Trial{}, err
	}
	for _, v := range t.Versions {
		if v.Version == cur {
			t.Current = v
		}
	}
	if t.Current.Version == 0 {
		return Trial{}, fmt.Errorf("trial: trial %s: current version %d missing", id, cur)
	}
	return t, nil
}

// Version returns version n of a trial, for a caller who takes part in it.
func (s *Service) Version(ctx context.Context, p *auth.Principal, id string, n int) (Version, error) {
	if err := s.asMember(ctx, p, id); err != nil {
		return Version{}, err
	}
	return s.Load(ctx, id, n)
}

// Load returns version n of a trial for another service, checking no
// caller: the upload pipeline loads the version a submission follows.
func (s *Service) Load(ctx context.Context, id string, n int) (Version, error) {
	var v Version
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		v, err = scanVersion(r.QueryRow(ctx, selectVersion, id, n))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return trialgate.Errorf(trialgate.ENotFound, "trial %q has no version %d", id, n)
		case err != nil:
			return fmt.Errorf("trial: read version: %w", err)
		}
		return nil
	})
	return v, err
}

// Approved returns the trial's newest approved version whose approval
// signature still verifies, for another service, checking no caller:
// uploads follow only definitions a data manager signed. A trial with none
// gives trialgate.EConflict.
func (s *Service) Approved(ctx context.Context, id string) (Version, error) {
	t, err := s.get(ctx, id)
	if err != nil {
		return Version{}, err
	}
	for i := len(t.Versions) - 1; i >= 0; i-- {
		if v := t.Versions[i]; v.Approval != nil && v.Approval.Valid == nil {
			return v, nil
		}
	}
	return Version{}, trialgate.Errorf(trialgate.EConflict, "trial %s has no approved definition: a data manager must approve one before uploads", id)
}

// Approve signs version n of a trial with meaning auth.MeaningApproval,
// re-checking the signer's password, and records the signature with the
// version and on its trial.approved audit entry, in one transaction, then
// waits (briefly) for the entry to be chained: a signature's receipt. The
// signer must be a data manager of the trial, and never the version's
// author (both refusals recorded, trialgate.EForbidden). The signed record
// is the version's stored bytes, checked against their stored SHA-256
// first. A version is approved at most once (trialgate.EConflict). A
// refused password is audited by auth (esign.failed).
func (s *Service) Approve(ctx context.Context, p *auth.Principal, id string, n int, password, meaning string) (Version, error) {
	if err := s.asDataManager(ctx, p, id, "only a data manager of the trial may approve its definition"); err != nil {
		return Version{}, err
	}
	switch {
	case password == "":
		return Version{}, trialgate.Errorf(trialgate.EInvalid, "password: required to sign")
	case meaning != auth.MeaningApproval:
		return Version{}, trialgate.Errorf(trialgate.EInvalid, "meaning: must be %q", auth.MeaningApproval)
	}
	v, err := s.Load(ctx, id, n)
	if err != nil {
		return Version{}, err
	}
	switch {
	case p.Is(v.CreatedBy):
		return Version{}, auth.Deny(ctx, s.db, p, db.TrialScope(id), versionObject(id, n),
			fmt.Sprintf("you authored version %d of trial %q: someone else must approve it", n, id))
	case v.Approval != nil:
		return Version{}, trialgate.Errorf(trialgate.EConflict, "version %d of trial %q is already approved", n, id)
	case hashOf(v.Definition) != v.SHA256:
		return Version{}, trialgate.Errorf(trialgate.EConflict, "version %d of trial %q does not match its stored hash: refusing to sign", n, id)
	}
	sig, err := s.auth.Sign(ctx, p, password, meaning, v.Definition)
	if err != nil {
		return Version{}, err
	}
	err = s.db.Write(ctx, p.Actor(auth.DataManager), db.TrialScope(id), func(tx *db.Tx) error {
		cnt, err := tx.Exec(ctx, approveVersion, id, n, sig.Signer, sig.Name, sig.Time, sig.Meaning, sig.RecordSHA256, v.SHA256, v.Definition)
		if err != nil {
			return fmt.Errorf("trial: record approval: %w", err)
		}
		if cnt != 1 {
			return trialgate.Errorf(trialgate.EConflict, "version %d of trial %q was approved or changed meanwhile", n, id)
		}
		return tx.Audit(audit.Event{Action: audit.ActionTrialApproved, Object: versionObject(id, n),
			After: map[string]any{"version": n, "sha256": v.SHA256}, Signature: &sig})
	})
	if err != nil {
		return Version{}, err
	}
	if err := s.db.WaitChainedFor(ctx, chainWait); err != nil {
		return Version{}, err
	}
	v.Approval = &Approval{Signature: sig, Valid: auth.VerifySignature(sig, v.Definition)}
	return v, nil
}
