package auth

import (
	"context"
	"fmt"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Require is how a domain service authorizes an action in scope: it returns
// the first of roles that p holds there (Principal.Allows on the scope's
// trial and site), to be recorded with the action. Otherwise it refuses
// with Deny: msg says, for the caller, what would have been needed.
func Require(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object, msg string, roles ...Role) (Role, error) {
	if role, ok := p.Allows(scope.Trial, scope.Site, roles...); ok {
		return role, nil
	}
	return "", Deny(ctx, d, p, scope, object, msg)
}

// Deny records that p was refused an action on object in scope
// (access.denied, outcome denied, msg as the reason, on the scope's chain)
// in its own transaction, so that the refusal outlives the request, and
// returns the trialgate.EForbidden error carrying msg. It fails closed:
// when the refusal cannot be recorded, that error is returned instead.
func Deny(ctx context.Context, d *db.DB, p *Principal, scope db.Scope, object audit.Object, msg string) error {
	ev := audit.Event{Action: audit.ActionAccessDenied, Outcome: audit.Denied, Object: object, Reason: msg}
	if err := d.Record(ctx, p.Actor(""), scope, ev); err != nil {
		return fmt.Errorf("auth: record a refusal: %w", err)
	}
	return trialgate.Errorf(trialgate.EForbidden, "%s", msg)
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
