package auth

import (
	"strings"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
)

// Role is what a grant lets a person do (DESIGN.md section 1).
type Role string

// The roles.
const (
	SiteUploader Role = "site_uploader" // one trial, one site
	QCReviewer   Role = "qc_reviewer"   // one trial
	Reader       Role = "reader"        // one trial
	Adjudicator  Role = "adjudicator"   // one trial
	DataManager  Role = "data_manager"  // one trial
	QAReviewer   Role = "qa_reviewer"   // one trial or AllTrials
	Inspector    Role = "inspector"     // one trial or AllTrials
	Admin        Role = "admin"         // system-wide: accounts and grants only
)

// AllTrials is the trial of a qa_reviewer or inspector grant that covers
// every trial.
const AllTrials = "*"

// Roles returns every role, in the order of DESIGN.md.
func Roles() []Role {
	return []Role{SiteUploader, QCReviewer, Reader, Adjudicator, DataManager, QAReviewer, Inspector, Admin}
}

// scope says which of trial and site a role's grants take.
type scope int

const (
	scopeNone      scope = iota // unknown role
	scopeSystem                 // neither trial nor site
	scopeTrial                  // one trial
	scopeAnyTrial               // one trial or AllTrials
	scopeTrialSite              // one trial and one site
)

func (r Role) scope() scope {
	switch r {
	case SiteUploader:
		return scopeTrialSite
	case QCReviewer, Reader, Adjudicator, DataManager:
		return scopeTrial
	case QAReviewer, Inspector:
		return scopeAnyTrial
	case Admin:
		return scopeSystem
	}
	return scopeNone
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.scope() != scopeNone }

// Grant gives a person a role in a scope: a trial (or AllTrials) and, for
// site uploaders, a site. Admin grants have neither.
type Grant struct {
	Role  Role   `json:"role"`
	Trial string `json:"trial,omitempty"`
	Site  string `json:"site,omitempty"`
}

// String returns "role", "role:trial" or "role:trial:site".
func (g Grant) String() string {
	s := string(g.Role)
	if g.Trial != "" || g.Site != "" {
		s += ":" + g.Trial
	}
	if g.Site != "" {
		s += ":" + g.Site
	}
	return s
}

// Validate checks that the grant's scope fits its role: site_uploader
// needs a trial and a site; qc_reviewer, reader, adjudicator and
// data_manager need a trial; qa_reviewer and inspector need a trial or
// AllTrials; admin takes neither. It returns a trialgate.EInvalid error that
// says what is wrong.
func (g Grant) Validate() error {
	sc := g.Role.scope()
	if sc == scopeNone {
		return trialgate.Errorf(trialgate.EInvalid, "unknown role %q", g.Role)
	}
	if sc == scopeSystem {
		if g.Trial != "" || g.Site != "" {
			return trialgate.Errorf(trialgate.EInvalid, "role %s is system-wide: it takes no trial or site", g.Role)
		}
		return nil
	}
	if g.Trial == "" {
		if sc == scopeAnyTrial {
			return trialgate.Errorf(trialgate.EInvalid, "role %s needs a trial, or %q for all trials", g.Role, AllTrials)
		}
		return trialgate.Errorf(trialgate.EInvalid, "role %s needs a trial", g.Role)
	}
	if g.Trial == AllTrials {
		if sc != scopeAnyTrial {
			return trialgate.Errorf(trialgate.EInvalid, "role %s is granted per trial, not for all trials", g.Role)
		}
	} else if err := validateScopeID("trial", g.Trial); err != nil {
		return err
	}
	if sc == scopeTrialSite {
		if g.Site == "" {
			return trialgate.Errorf(trialgate.EInvalid, "role %s needs a trial and a site", g.Role)
		}
		return validateScopeID("site", g.Site)
	}
	if g.Site != "" {
		return trialgate.Errorf(trialgate.EInvalid, "role %s is granted per trial: it takes no site", g.Role)
	}
	return nil
}

// validateScopeID checks a trial or site id in a grant: 1 to 64 characters
// of letters, digits, '.', '_' and '-' (so never "/", which names chains,
// nor "*", nor ":", which separates the parts of a grant on the command
// line).
func validateScopeID(what, id string) error {
	if len(id) > 64 {
		return trialgate.Errorf(trialgate.EInvalid, "%s id must be at most 64 characters long", what)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return trialgate.Errorf(trialgate.EInvalid, "%s id %q may contain only letters, digits, '.', '_' and '-'", what, id)
		}
	}
	return nil
}

// Covers reports whether the grant covers acting in a scope: trial "" is
// the system scope, site "" the trial as a whole.
//
//   - An admin grant covers only the system scope.
//   - An AllTrials grant covers every trial and the system scope (an
//     all-trials inspector or QA reviewer also sees the system chain).
//   - A trial grant covers that trial, at any site or as a whole.
//   - A site grant covers that trial at that site only.
func (g Grant) Covers(trialID, site string) bool {
	switch {
	case g.Role == Admin:
		return trialID == "" && site == ""
	case g.Trial == AllTrials:
		return true
	case g.Trial != trialID:
		return false
	case g.Site == "":
		return true
	default:
		return g.Site == site
	}
}

// User is an account.
type User struct {
	ID       string // "u_" + 24 hex digits; what audit entries and signatures name
	Username string
	FullName string // the printed name shown with signatures
	Active   bool
	Created  time.Time
	// LockedUntil is when a lockout ends, or zero when the account is not
	// locked now.
	LockedUntil time.Time
}

// Principal is an authenticated caller: the account, its live grants at
// the time of the request, the session and the request's origin.
type Principal struct {
	User      User
	Grants    []Grant
	SessionID string    // for the audit trail; never the token
	ExpiresAt time.Time // the session's absolute expiry
	Client    Client
}

// Has reports whether the principal holds role in the scope (trial "" for
// the system scope, site "" for the trial as a whole); see Grant.Covers.
func (p *Principal) Has(role Role, trialID, site string) bool {
	for _, g := range p.Grants {
		if g.Role == role && g.Covers(trialID, site) {
			return true
		}
	}
	return false
}

// Allows returns the first of roles that the principal holds in the scope,
// so a handler can accept several roles and record the one used:
//
//	role, ok := p.Allows(trialID, "", auth.Inspector, auth.QAReviewer)
//	if !ok { ... 403 ... }
//	actor := p.Actor(role)
func (p *Principal) Allows(trialID, site string, roles ...Role) (Role, bool) {
	for _, r := range roles {
		if p.Has(r, trialID, site) {
			return r, true
		}
	}
	return "", false
}

// Is reports whether the principal is the person with user id id (as in an
// audit.Actor's ID or a signature's Signer). Domain packages use it to
// refuse that a person reviews, adjudicates or approves their own work.
func (p *Principal) Is(id string) bool { return id != "" && p.User.ID == id }

// Actor returns the audit actor for an action the principal takes in role
// (which the caller has checked with Has or Allows; "" when no role
// applies, e.g. for a refusal).
func (p *Principal) Actor(role Role) audit.Actor {
	return audit.Actor{
		ID:        p.User.ID,
		Username:  p.User.Username,
		FullName:  p.User.FullName,
		Role:      string(role),
		Session:   p.SessionID,
		IP:        p.Client.IP,
		UserAgent: p.Client.UserAgent,
	}
}

// normalizeUsername is the form a typed username is looked up in.
func normalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Member returns the role of the first grant by which p takes part in a
// trial at all: one naming the trial (a site uploader's included) or every
// trial. An administrator manages accounts, not trials, and is no member.
func (p *Principal) Member(trialID string) (Role, bool) {
	for _, g := range p.Grants {
		if g.Role != Admin && trialID != "" && (g.Trial == trialID || g.Trial == AllTrials) {
			return g.Role, true
		}
	}
	return "", false
}
