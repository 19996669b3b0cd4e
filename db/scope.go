package db

import (
	"context"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
)

// Scope is what a change touches: the system (the zero Scope: accounts,
// grants, sessions, schema), or a trial and, within it, optionally a site,
// a subject at that site and one of the subject's visits. Any suffix may be
// empty, never a part in the middle.
//
// Write stamps the scope's trial and site on every audit entry of the
// transaction and appends the entries to the trial's chain (the system
// chain for the system scope), so domain code never names a chain; it hands
// the scope to the guards.
type Scope struct {
	Trial   string
	Site    string
	Subject string
	Visit   string
}

// System is the scope of changes that belong to no trial.
var System = Scope{}

// TrialScope returns the scope of a trial as a whole.
func TrialScope(trial string) Scope { return Scope{Trial: trial} }

// IsSystem reports whether s is the system scope.
func (s Scope) IsSystem() bool { return s == System }

// Chain returns the name of the audit chain that records changes in s.
func (s Scope) Chain() string { return audit.ChainOf(s.Trial) }

// Within reports whether s lies inside o: the same trial, and every part o
// names is the same in s (a visit lies within its subject, which lies
// within its site, which lies within its trial). The system scope lies only
// within itself, and no trial lies within it.
func (s Scope) Within(o Scope) bool {
	if o.IsSystem() || s.IsSystem() {
		return s == o
	}
	return s.Trial == o.Trial &&
		(o.Site == "" || s.Site == o.Site &&
			(o.Subject == "" || s.Subject == o.Subject &&
				(o.Visit == "" || s.Visit == o.Visit)))
}

// String returns "system" or the path of the scope, e.g.
// "trial/T1/site/S1/subject/S1-001/visit/BL".
func (s Scope) String() string {
	if s.IsSystem() {
		return audit.SystemChain
	}
	var b strings.Builder
	for _, p := range [...]struct{ name, id string }{{"trial", s.Trial}, {"site", s.Site}, {"subject", s.Subject}, {"visit", s.Visit}} {
		if p.id == "" {
			break
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(p.name + "/" + p.id)
	}
	return b.String()
}

// Validate checks that every part s names is a valid id (trialgate.ValidID;
// a trial is never called "system", the system chain's name) and that no
// part is named below an empty one. The error is trialgate.EInvalid: scopes
// are built from ids a request names, and a malformed one must never name
// a chain.
func (s Scope) Validate() error {
	parts := [...]struct{ name, id string }{{"trial", s.Trial}, {"site", s.Site}, {"subject", s.Subject}, {"visit", s.Visit}}
	for i, p := range parts {
		if p.id == "" {
			for _, q := range parts[i+1:] {
				if q.id != "" {
					return trialgate.Errorf(trialgate.EInvalid, "scope: a %s is named without a %s", q.name, p.name)
				}
			}
			return nil
		}
		if !trialgate.ValidID(p.id) || i == 0 && p.id == audit.SystemChain {
			return trialgate.Errorf(trialgate.EInvalid, "%s id %q is not valid: 1-%d of A-Z a-z 0-9 . _ -", p.name, p.id, trialgate.MaxIDLen)
		}
	}
	return nil
}

// A Guard vets a transaction's changes before they commit; the data lock is
// one. Guards are given when the DB is opened (Options.Guards, wired in
// cmd/gateway) and run in order inside every Write whose function changed
// data or recorded an event (never in Record): after the function, before
// the commit, in the same transaction, so they see its changes and hold
// their row locks until it ends (a lock guard holds the trial's row FOR
// SHARE, while applying a lock takes it
// exclusively, so no write slips past a lock being applied).
//
// A guard refuses with an error whose trialgate code is neither EInternal
// nor EUnavailable (a lock refuses with ELocked). Write then rolls the
// change back, records the attempt in its own transaction as denied (the
// action and object of the transaction's first event, the error's public
// message as the reason, on the scope's chain) and returns the error: no
// caller writes its own denial. Any other error fails the Write like an
// error of its function.
type Guard interface {
	Check(ctx context.Context, tx *Tx, scope Scope) error
}

// GuardFunc adapts a function to a Guard.
type GuardFunc func(ctx context.Context, tx *Tx, scope Scope) error

// Check implements Guard.
func (f GuardFunc) Check(ctx context.Context, tx *Tx, scope Scope) error { return f(ctx, tx, scope) }

// A Witness sees the successful events Record writes in a trial (reads of
// regulated data) inside their transaction, and may record events of its
// own there with Tx.Audit: the data lock adds access.after_lock to every
// read of locked data, so no read path can forget it. A witness must not
// change data. Witnesses are given with the guards (Options.Witnesses).
type Witness interface {
	Witness(ctx context.Context, tx *Tx, scope Scope, events []audit.Event) error
}
