package audit

// Action is an audit action code from the controlled vocabulary below. Codes
// are stable: once an entry carries one it is part of the record, so a code
// is never renamed or reused; a test enforces the registry's form.
type Action string

// The registered actions. Add new codes here, with their description in
// Actions.
const (
	ActionSchemaMigrated Action = "schema.migrated"
	ActionClockAnomaly   Action = "clock.anomaly"

	ActionAuditQueried  Action = "audit.queried"
	ActionAuditVerified Action = "audit.verified"

	ActionAccessDenied Action = "access.denied"

	ActionLogin        Action = "auth.login"
	ActionLogout       Action = "auth.logout"
	ActionLockedOut    Action = "auth.locked_out"
	ActionTokenExpired Action = "auth.token_expired"

	ActionSessionRevoked Action = "auth.session_revoked"
	ActionFailuresReset  Action = "auth.failures_reset"
	ActionSignFailed     Action = "esign.failed"

	ActionUserCreated     Action = "user.created"
	ActionUserGrantAdded  Action = "user.grant_added"
	ActionUserGrantRevoke Action = "user.grant_revoked"
	ActionUserDeactivated Action = "user.deactivated"
	ActionUserActivated   Action = "user.activated"

	ActionTrialCreated  Action = "trial.created"
	ActionTrialChanged  Action = "trial.changed"
	ActionTrialApproved Action = "trial.approved"
)

// Actions describes every registered action.
var Actions = map[Action]string{
	ActionSchemaMigrated: "a database schema migration was applied",
	ActionClockAnomaly:   "the server clock went backwards; times were held non-decreasing",

	ActionAuditQueried:  "audit entries were viewed or exported",
	ActionAuditVerified: "the audit trail was verified",

	ActionAccessDenied: "a request was refused for missing or insufficient credentials",

	ActionLogin:        "a login attempt (outcome says whether it succeeded)",
	ActionLogout:       "a session was ended by its user",
	ActionLockedOut:    "an account was locked after repeated failed logins",
	ActionTokenExpired: "a request presented an expired session",

	ActionSessionRevoked: "a session was ended because its account was deactivated",
	ActionFailuresReset:  "a correct password at signing reset the count of consecutive failed attempts",
	ActionSignFailed:     "an electronic signature was refused (wrong password, locked or inactive account)",

	ActionUserCreated:     "an account was created",
	ActionUserGrantAdded:  "a role grant was added to an account",
	ActionUserGrantRevoke: "a role grant was revoked from an account",
	ActionUserDeactivated: "an account was deactivated",
	ActionUserActivated:   "an account was reactivated",

	ActionTrialCreated:  "a trial was defined (its definition version 1)",
	ActionTrialChanged:  "a trial definition was changed: a new version, with a reason",
	ActionTrialApproved: "a trial definition version was approved by electronic signature",
}

// Known reports whether a is a registered action.
func Known(a Action) bool {
	_, ok := Actions[a]
	return ok
}
