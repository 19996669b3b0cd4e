// Package lock owns data locks: a data manager's e-signed statement that a
// scope of a trial (the whole trial, a site, a subject, or one visit of a
// subject) is final. While a lock holds, no change reaches its scope.
//
// Enforcement is structural. Guard is the db.Guard of every Write:
// inside the transaction of each change, after the change and before its
// commit, it looks up the locks in force over what the change affects (its
// scope, or the parts it declared with db.Tx.Affects) by scope key, and a
// lock refuses the change with trialgate.ELocked (a *Refusal naming the
// lock); db.Write rolls the change back and records access.denied_locked,
// so no handler, present or future, can forget a lock. It is also the
// db.Witness (Guard again) of every record of a read: a read that touches locked data
// gains an access.after_lock entry in the same transaction.
//
// No race lets a change slip past a lock being applied. On PostgreSQL a
// guarded change holds its trial's row FOR SHARE from its check to its
// commit, and applying or releasing a lock takes it FOR UPDATE first: a
// change either commits (and queues its audit entries) before the lock's
// transaction reads the scope, so its entries precede the lock's in the
// chain and its records are in the manifest, or it checks after the lock
// committed and is refused. On SQLite the one writer serialises both.
//
// Applying a lock records a manifest: one leaf per record in its scope
// (stored instances by content hash, submissions with their QC state,
// signed read versions and adjudications, case outcomes; see Leaf), whose
// RFC 6962 Merkle root is recorded on the lock's audit entry beside its
// signature and returned with the seq and hash of that entry (the
// receipt). Verify recomputes the
// leaves and proves that nothing in the scope changed while it was locked.
//
// A release is e-signed with a reason; a trial whose definition says
// locks.release_signers 2 needs a second signer (another data manager or
// a QA reviewer), and the lock holds until both have signed. Overlapping
// locks are independent: a subject may be locked inside a locked site,
// and releasing the site leaves the subject locked.
package lock

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/trial"
)

// Kinds of scope.
const (
	KindTrial   = "trial"
	KindSite    = "site"
	KindSubject = "subject"
	KindVisit   = "visit"
)

// MaxReason bounds a lock's or release's reason, in bytes.
const MaxReason = 2000

// Definitions gives a trial's approved definition: its sites, visits and
// lock policy.
type Definitions interface {
	Approved(ctx context.Context, id string) (trial.Version, error)
}

// Config configures a Service.
type Config struct {
	DB       *db.DB
	Accounts *auth.Service
	Trials   Definitions
	// Retainer, when set, gives locked objects WORM retention at the
	// store (RunRetention does the work).
	Retainer Retainer
	Clock    func() time.Time
	Logger   *slog.Logger
}

// Service applies, releases, lists and verifies locks. It is safe for
// concurrent use.
type Service struct {
	db       *db.DB
	accounts *auth.Service
	trials   Definitions
	retainer Retainer
	wake     chan struct{} // RunRetention's wake-up, buffered 1
	clock    func() time.Time
	log      *slog.Logger
}

// New returns a Service. The DB must have been opened with Guard as one of
// its guards and witnesses (db.Options), or nothing enforces its locks.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{db: cfg.DB, accounts: cfg.Accounts, trials: cfg.Trials, retainer: cfg.Retainer,
		wake: make(chan struct{}, 1), clock: cfg.Clock, log: cfg.Logger}
}

func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// Summary names a lock in refusals: API.md's {id, scope, locked_by,
// locked_at}.
type Summary struct {
	ID       string `json:"id"`
	Scope    string `json:"scope"`
	LockedBy string `json:"locked_by"`
	LockedAt string `json:"locked_at"`
}

// Refusal is the error of a change refused by a lock: trialgate.ELocked,
// with the lock named in the message and in its details.
type Refusal struct {
	Lock Summary
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s is locked by lock %s (%s, %s)", r.Lock.Scope, r.Lock.ID, r.Lock.LockedBy, r.Lock.LockedAt)
}

// ErrorDetails adds the lock to the API's error object.
func (r *Refusal) ErrorDetails() map[string]any { return map[string]any{"lock": r.Lock} }

func refusal(l Summary) error {
	r := &Refusal{Lock: l}
	return &trialgate.Error{Code: trialgate.ELocked, Message: r.Error(), Err: r}
}

// Refused returns the lock that refused err, if a lock did.
func Refused(err error) (Summary, bool) {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Lock, true
	}
	return Summary{}, false
}

// ---- the guard and the witness -------------------------------------------

const (
	shareTrial  = `SELECT 1 FROM trials WHERE id = $1 FOR SHARE`
	updateTrial = `SELECT 1 FROM trials WHERE id = $1 FOR UPDATE`
	// Locks in force at or above a scope (its path and its ancestors' in
	// $2..$5) or below it (paths in [$6, $7)): two key lookups on
	// locks_in_force (trial_id, scope), never a scan of the trial's locks
	// (one WHERE with OR would search by trial_id alone).
	lockColumnsShort = `id, scope, locked_by_name, locked_us`
	selectAtOrAbove  = `FROM locks WHERE trial_id = $1 AND released_us IS NULL AND scope IN ($2, $3, $4, $5)`
	selectBelow      = `FROM locks WHERE trial_id = $1 AND released_us IS NULL AND scope >= $6 AND scope < $7`
	selectCovering   = `SELECT ` + lockColumnsShort + ` ` + selectAtOrAbove + ` UNION ALL SELECT ` + lockColumnsShort + ` ` + selectBelow +
		` ORDER BY scope LIMIT 1`
	selectOverlapping = `SELECT id, scope ` + selectAtOrAbove + ` UNION ALL SELECT id, scope ` + selectBelow + ` ORDER BY scope`
	selectInForce     = `SELECT id, scope, locked_by_name, locked_us FROM locks WHERE trial_id = $1 AND released_us IS NULL`
)

// keyArgs are the arguments of selectCovering for scope: the paths of the
// scope and its ancestors (repeated to fill four), and the range of the
// paths below it ("/" is followed by "0" in byte order).
func keyArgs(scope db.Scope) []any {
	parts := []db.Scope{db.TrialScope(scope.Trial)}
	if scope.Site != "" {
		parts = append(parts, db.Scope{Trial: scope.Trial, Site: scope.Site})
	}
	if scope.Subject != "" {
		parts = append(parts, db.Scope{Trial: scope.Trial, Site: scope.Site, Subject: scope.Subject})
	}
	if scope.Visit != "" {
		parts = append(parts, scope)
	}
	args := []any{scope.Trial}
	for i := range 4 {
		args = append(args, parts[min(i, len(parts)-1)].String())
	}
	p := scope.String()
	return append(args, p+"/", p+"0")
}

// lockEvents reports whether every event is the lock's own: applying or
// releasing a lock is a change inside locked scopes that locks let through.
func lockEvents(evs []audit.Event) bool {
	for _, ev := range evs {
		switch ev.Action {
		case audit.ActionLockApplied, audit.ActionLockReleaseSigned, audit.ActionLockReleased,
			audit.ActionLockRetained, audit.ActionLockRetentionLift:
		default:
			return false
		}
	}
	return len(evs) > 0
}

// Guard enforces locks: it is the db.Guard and db.Witness of the DB the
// locks are in (it holds no state; every answer comes from the transaction
// it is given).
type Guard struct{}

var (
	_ db.Guard   = Guard{}
	_ db.Witness = Guard{}
)

// manyAffected is the number of affected parts above which the guard reads
// the trial's locks in force once instead of looking up each part.
const manyAffected = 16

// Check implements db.Guard: it refuses a change that affects a locked
// scope.
func (Guard) Check(ctx context.Context, tx *db.Tx, scope db.Scope) error {
	if scope.IsSystem() {
		return nil
	}
	if tx.Dialect() == "postgres" {
		// Held to the commit: a lock being applied waits for this change,
		// or this change waits for the lock and then sees it below.
		var one int
		if err := tx.QueryRow(ctx, shareTrial, scope.Trial).Scan(&one); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("lock: guard: %w", err)
		}
	}
	if lockEvents(tx.Events()) {
		return nil
	}
	affected := tx.Affected()
	if len(affected) > manyAffected {
		return checkMany(ctx, tx, scope.Trial, affected)
	}
	for _, a := range affected {
		var l Summary
		var us int64
		err := tx.QueryRow(ctx, selectCovering, keyArgs(a)...).Scan(&l.ID, &l.Scope, &l.LockedBy, &us)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return fmt.Errorf("lock: guard: %w", err)
		}
		l.LockedAt = formatTime(us)
		return refusal(l)
	}
	return nil
}

// checkMany is Check for a change affecting many parts of a trial (an
// assignment run): one look-up of the trial's locks in force, matched here.
func checkMany(ctx context.Context, tx *db.Tx, trialID string, affected []db.Scope) error {
	rows, err := tx.Query(ctx, selectInForce, trialID)
	if err != nil {
		return fmt.Errorf("lock: guard: %w", err)
	}
	var locks []Summary
	var scopes []db.Scope
	for rows.Next() {
		var l Summary
		var us int64
		if err := rows.Scan(&l.ID, &l.Scope, &l.LockedBy, &us); err != nil {
			rows.Close()
			return fmt.Errorf("lock: guard: %w", err)
		}
		l.LockedAt = formatTime(us)
		sc, err := ParseScope(l.Scope)
		if err != nil {
			rows.Close()
			return fmt.Errorf("lock: guard: stored scope: %w", err)
		}
		locks, scopes = append(locks, l), append(scopes, sc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock: guard: %w", err)
	}
	for _, a := range affected {
		for i, sc := range scopes {
			if a.Within(sc) || sc.Within(a) {
				return refusal(locks[i])
			}
		}
	}
	return nil
}

// Witness implements db.Witness: a successful read in a scope that
// overlaps a lock in force (the read's scope lies within the lock's, or
// the lock's within the read's, as a trial-wide query spans a locked
// subject) gains an access.after_lock entry naming the read and the locks.
func (Guard) Witness(ctx context.Context, tx *db.Tx, scope db.Scope, events []audit.Event) error {
	rows, err := tx.Query(ctx, selectOverlapping, keyArgs(scope)...)
	if err != nil {
		return fmt.Errorf("lock: witness: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id, lockScope string
		if err := rows.Scan(&id, &lockScope); err != nil {
			rows.Close()
			return fmt.Errorf("lock: witness: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return err
	}
	for _, ev := range events {
		if ev.Outcome != audit.Success && ev.Outcome != "" {
			continue
		}
		if err := tx.Audit(audit.Event{Action: audit.ActionAccessAfterLock, Object: ev.Object,
			After: map[string]any{"read_action": ev.Action, "locks": ids, "scope": scope.String()}}); err != nil {
			return err
		}
	}
	return nil
}

// ---- scopes ---------------------------------------------------------------

// ScopeInput names a scope as a request does.
type ScopeInput struct {
	Kind    string `json:"scope"`
	Site    string `json:"site,omitempty"`
	Subject string `json:"subject,omitempty"`
	Visit   string `json:"visit,omitempty"`
}

// ParseScope reads a scope path ("trial/T1/site/S1/subject/S1-001").
func ParseScope(path string) (db.Scope, error) {
	parts := strings.Split(path, "/")
	names := []string{"trial", "site", "subject", "visit"}
	if len(parts)%2 != 0 || len(parts) == 0 || len(parts) > 8 {
		return db.Scope{}, trialgate.Errorf(trialgate.EInvalid, "scope %q is not a scope path", path)
	}
	var ids [4]string
	for i := 0; i < len(parts); i += 2 {
		if parts[i] != names[i/2] {
			return db.Scope{}, trialgate.Errorf(trialgate.EInvalid, "scope %q: want %s at part %d", path, names[i/2], i/2+1)
		}
		ids[i/2] = parts[i+1]
	}
	sc := db.Scope{Trial: ids[0], Site: ids[1], Subject: ids[2], Visit: ids[3]}
	return sc, sc.Validate()
}

// kindOf returns the level of a trial scope.
func kindOf(s db.Scope) string {
	switch {
	case s.Visit != "":
		return KindVisit
	case s.Subject != "":
		return KindSubject
	case s.Site != "":
		return KindSite
	}
	return KindTrial
}

const (
	selectSubjectSite = `SELECT DISTINCT site FROM submissions WHERE trial_id = $1 AND subject = $2`
)

// resolve checks a requested scope against the trial: its kind is known,
// it names exactly the parts its kind needs, the site and visit are in the
// approved definition, and the subject has submissions (at that site).
// A subject's site may be left out; it is looked up.
func (s *Service) resolve(ctx context.Context, trialID string, in ScopeInput, def *trial.Definition) (db.Scope, error) {
	sc := db.Scope{Trial: trialID, Site: strings.TrimSpace(in.Site), Subject: strings.TrimSpace(in.Subject), Visit: strings.TrimSpace(in.Visit)}
	need := map[string][3]bool{ // site, subject, visit
		KindTrial: {}, KindSite: {true}, KindSubject: {true, true}, KindVisit: {true, true, true},
	}
	want, ok := need[in.Kind]
	if !ok {
		return db.Scope{}, trialgate.Errorf(trialgate.EInvalid, "scope: %q is not a lock scope: want trial, site, subject or visit", clip(in.Kind))
	}
	if (in.Kind == KindSubject || in.Kind == KindVisit) && sc.Subject != "" && sc.Site == "" {
		sites, err := s.subjectSites(ctx, trialID, sc.Subject)
		if err != nil {
			return db.Scope{}, err
		}
		switch len(sites) {
		case 0:
			return db.Scope{}, trialgate.Errorf(trialgate.ENotFound, "subject: trial %s has no subject %q", trialID, clip(sc.Subject))
		case 1:
			sc.Site = sites[0]
		default:
			return db.Scope{}, trialgate.Errorf(trialgate.EInvalid, "site: subject %s has submissions at sites %s; name the site", sc.Subject, strings.Join(sites, ", "))
		}
	}
	for i, part := range []struct{ name, v string }{{"site", sc.Site}, {"subject", sc.Subject}, {"visit", sc.Visit}} {
		switch {
		case want[i] && part.v == "":
			return db.Scope{}, trialgate.Errorf(trialgate.EInvalid, "%s: required for a %s lock", part.name, in.Kind)
		case !want[i] && part.v != "":
			return db.Scope{}, trialgate.Errorf(trialgate.EInvalid, "%s: a %s lock names no %s", part.name, in.Kind, part.name)
		}
	}
	if err := sc.Validate(); err != nil {
		return db.Scope{}, err
	}
	if sc.Site != "" && !hasSite(def, sc.Site) {
		return db.Scope{}, trialgate.Errorf(trialgate.ENotFound, "site: trial %s has no site %q", trialID, sc.Site)
	}
	if sc.Visit != "" && !hasVisit(def, sc.Visit) {
		return db.Scope{}, trialgate.Errorf(trialgate.ENotFound, "visit: trial %s has no visit %q", trialID, sc.Visit)
	}
	if sc.Subject != "" {
		sites, err := s.subjectSites(ctx, trialID, sc.Subject)
		if err != nil {
			return db.Scope{}, err
		}
		if !contains(sites, sc.Site) {
			return db.Scope{}, trialgate.Errorf(trialgate.ENotFound, "subject: trial %s has no subject %q at site %s", trialID, sc.Subject, sc.Site)
		}
	}
	return sc, nil
}

func (s *Service) subjectSites(ctx context.Context, trialID, subject string) ([]string, error) {
	var sites []string
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, selectSubjectSite, trialID, subject)
		if err != nil {
			return fmt.Errorf("lock: subject sites: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var site string
			if err := rows.Scan(&site); err != nil {
				return err
			}
			sites = append(sites, site)
		}
		return rows.Err()
	})
	return sites, err
}

func hasSite(d *trial.Definition, id string) bool {
	for _, s := range d.Sites {
		if s.ID == id {
			return true
		}
	}
	return false
}

func hasVisit(d *trial.Definition, id string) bool {
	for _, v := range d.Visits {
		if v.ID == id {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// clip shortens what a request sent for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func formatTime(us int64) string { return time.UnixMicro(us).UTC().Format(audit.TimeFormat) }

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return "lock-" + hex.EncodeToString(b[:])
}

func checkReason(reason, what string) (string, error) {
	switch reason = strings.TrimSpace(reason); {
	case reason == "":
		return "", trialgate.Errorf(trialgate.EInvalid, "reason: required %s", what)
	case len(reason) > MaxReason:
		return "", trialgate.Errorf(trialgate.EInvalid, "reason: longer than %d bytes", MaxReason)
	}
	return reason, nil
}
