package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Require is how a domain service authorizes an action in scope: it returns
// the first of roles that p holds there (Principal.Allows on the scope's
// trial and site), to be recorded with the action. Otherwise it refuses
// with Deny: msg says, for the caller, what would have been needed.
//
// The scope's trial must exist, whoever asks: a caller whose grants name a
// trial not (yet) created gets trialgate.ENotFound "no trial <id>" too, its
// refusal recorded on the system chain (Exists), so that no read or change
// is ever recorded on, or answered from, a trial that is not there. Callers
// without the role learn of the trial's absence the same way, through
// Deny. Only the action that creates a trial needs it absent: it uses
// RequireNew.
func Require(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object, msg string, roles ...Role) (Role, error) {
	role, ok := p.Allows(scope.Trial, scope.Site, roles...)
	if !ok {
		return "", Deny(ctx, d, p, scope, object, msg)
	}
	if err := Exists(ctx, d, p, scope, object); err != nil {
		return "", err
	}
	return role, nil
}

// RequireNew is Require for the one action that brings the scope's trial
// into being (defining it): the trial need not exist, and a refusal is
// trialgate.EForbidden (msg) either way. A refusal in a trial that does not
// exist yet is recorded on the system chain (see db.Record).
func RequireNew(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object, msg string, roles ...Role) (Role, error) {
	if role, ok := p.Allows(scope.Trial, scope.Site, roles...); ok {
		return role, nil
	}
	if err := recordRefusal(ctx, d, p, scope, object, msg); err != nil && !errors.Is(err, db.ErrNoTrial) {
		return "", err
	}
	return "", trialgate.Errorf(trialgate.EForbidden, "%s", msg)
}

// Exists returns nil if scope names the system or a trial that exists (its
// audit chain was started, db.ChainStarted). Otherwise it records the
// request as refused (access.denied, reason "no trial <id>", on the system
// chain) and returns db.NoTrial: trialgate.ENotFound "no trial <id>". A
// service that authorizes by other means than Require (the audit trail's
// readers) asks it before it reads or records anything in the trial.
func Exists(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object) error {
	started, err := d.ChainStarted(ctx, scope)
	if err != nil {
		return fmt.Errorf("auth: look up trial: %w", err)
	}
	if started {
		return nil
	}
	// Recorded in the trial's scope: db.Record moves the refusal to the
	// system chain, in one transaction with its own look-up, and says so.
	err = recordRefusal(ctx, d, p, scope, object, "no trial "+scope.Trial)
	if err == nil {
		// The trial was created between the look-up and the record; the
		// request was refused when it did not exist, and is answered so.
		return db.NoTrial(scope.Trial)
	}
	return err
}

// Deny records that p was refused an action on object in scope
// (access.denied, outcome denied, msg as the reason, on the scope's chain)
// in its own transaction, so that the refusal outlives the request, and
// returns the trialgate.EForbidden error carrying msg.
//
// When the scope names a trial that does not exist, the refusal is
// recorded on the system chain instead (no refusal starts a trial's chain,
// see db.Record) and the answer is trialgate.ENotFound "no trial <id>"
// (db.NoTrial): a trial that is not there is not hidden behind "forbidden",
// and a caller learns nothing more than that it is not there. It fails
// closed: when the refusal cannot be recorded, that error is returned
// instead.
func Deny(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object, msg string) error {
	if err := recordRefusal(ctx, d, p, scope, object, msg); err != nil {
		return err
	}
	return trialgate.Errorf(trialgate.EForbidden, "%s", msg)
}

// recordRefusal records a refusal of p in scope: access.denied, outcome denied.
func recordRefusal(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object, reason string) error {
	ev := audit.Event{Action: audit.ActionAccessDenied, Outcome: audit.Denied, Object: object, Reason: reason}
	err := d.Record(ctx, p.Actor(""), scope, ev)
	switch {
	case errors.Is(err, db.ErrNoTrial):
		return err
	case err != nil:
		return fmt.Errorf("auth: record a refusal: %w", err)
	}
	return nil
}

// Operator returns the principal of a system component that acts on the
// server's operator's behalf: the command line, run by someone who holds
// the server's files and database credentials. Its actor is
// "system:<component>" with the operating-system user's name, and it holds
// exactly the grants given, so the same authorization checks apply to it as
// to a person; each command grants what it needs (trial create: the trial's
// data_manager; audit export: inspector of every trial).
func Operator(component, username, fullName string, grants ...Grant) *Principal {
	return &Principal{User: User{ID: audit.System(component).ID, Username: username, FullName: fullName, Active: true},
		Grants: grants}
}
