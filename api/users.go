package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// The account endpoints are for administrators only. Accounts are never
// deleted: PATCH revokes grants and deactivates. Every change is made (and
// audited) by auth; reading accounts is not trial data and is not audited
// beyond the refusals.

// usernameParam returns the username of the path, lower-cased as logins
// are, or a trialgate.EInvalid error naming the parameter when it cannot
// be one (it then reaches neither the database nor the trail).
func usernameParam(c *gin.Context) (string, error) {
	name := strings.ToLower(strings.TrimSpace(c.Param("username")))
	if err := auth.ValidateUsername(name); err != nil {
		return "", trialgate.Errorf(trialgate.EInvalid, "path parameter username: %s", trialgate.ErrorMessage(err))
	}
	return name, nil
}

// grantRecordJSON is a live grant as an administrator sees it.
type grantRecordJSON struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Trial     string    `json:"trial,omitempty"`
	Site      string    `json:"site,omitempty"`
	GrantedAt time.Time `json:"granted_at"`
	GrantedBy string    `json:"granted_by"`
}

// accountJSON is the public shape of an account: never a password or hash.
type accountJSON struct {
	ID          string            `json:"id"`
	Username    string            `json:"username"`
	FullName    string            `json:"full_name"`
	Active      bool              `json:"active"`
	CreatedAt   time.Time         `json:"created_at"`
	LockedUntil *time.Time        `json:"locked_until,omitempty"`
	Grants      []grantRecordJSON `json:"grants"`
	// Affiliations are the sites the person belongs to: they never read
	// a blinded case from one.
	Affiliations []affiliationRecordJSON `json:"affiliations"`
}

type affiliationRecordJSON struct {
	ID      string    `json:"id"`
	Trial   string    `json:"trial"`
	Site    string    `json:"site"`
	AddedAt time.Time `json:"added_at"`
	AddedBy string    `json:"added_by"`
}

func accountOf(a auth.Account) accountJSON {
	out := accountJSON{ID: a.ID, Username: a.Username, FullName: a.FullName, Active: a.Active,
		CreatedAt: a.Created.UTC(), Grants: make([]grantRecordJSON, 0, len(a.Grants))}
	if !a.LockedUntil.IsZero() {
		t := a.LockedUntil.UTC()
		out.LockedUntil = &t
	}
	for _, g := range a.Grants {
		out.Grants = append(out.Grants, grantRecordJSON{ID: g.ID, Role: string(g.Role), Trial: g.Trial, Site: g.Site,
			GrantedAt: g.GrantedAt.UTC(), GrantedBy: g.GrantedBy})
	}
	out.Affiliations = make([]affiliationRecordJSON, 0, len(a.Affiliations))
	for _, f := range a.Affiliations {
		out.Affiliations = append(out.Affiliations, affiliationRecordJSON{ID: f.ID, Trial: f.Trial, Site: f.Site,
			AddedAt: f.AddedAt.UTC(), AddedBy: f.AddedBy})
	}
	return out
}

// grantsOf converts and validates requested grants, refusing one listed
// twice, so that a request is checked whole before anything changes.
func grantsOf(in []grantJSON) ([]auth.Grant, error) {
	out := make([]auth.Grant, 0, len(in))
	for _, j := range in {
		g := auth.Grant{Role: auth.Role(j.Role), Trial: j.Trial, Site: j.Site}
		if err := g.Validate(); err != nil {
			return nil, err
		}
		for _, h := range out {
			if h == g {
				return nil, trialgate.Errorf(trialgate.EInvalid, "grant %s is listed twice", g)
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// asAdmin returns the caller if they hold the admin role; otherwise the
// request is refused (403, recorded on the system chain).
func (s *Server) asAdmin(c *gin.Context) (*auth.Principal, error) {
	p := principal(c)
	if _, err := auth.Require(c.Request.Context(), s.db, p, db.System, endpoint(c),
		"only an administrator may manage accounts", auth.Admin); err != nil {
		return nil, err
	}
	return p, nil
}

// refused records a refusal by auth (an administrator changing their own
// account), as every 403 is recorded, and passes any other error on.
func (s *Server) refused(c *gin.Context, p *auth.Principal, err error) error {
	if trialgate.ErrorCode(err) == trialgate.EForbidden {
		return auth.Deny(c.Request.Context(), s.db, p, db.System, endpoint(c), trialgate.ErrorMessage(err))
	}
	return err
}

type createUserRequest struct {
	Username     string             `json:"username"`
	FullName     string             `json:"full_name"`
	Password     string             `json:"password"`
	Grants       []grantJSON        `json:"grants"`
	Affiliations []auth.Affiliation `json:"affiliations"`
}

// createUser creates an account (201 with the account and its grants).
func (s *Server) createUser(c *gin.Context) error {
	p, err := s.asAdmin(c)
	if err != nil {
		return err
	}
	var req createUserRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	grants, err := grantsOf(req.Grants)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	u, err := s.auth.CreateUser(ctx, p.Actor(auth.Admin),
		auth.NewUser{Username: req.Username, FullName: req.FullName, Password: req.Password, Grants: grants,
			Affiliations: req.Affiliations})
	if err != nil {
		return err
	}
	a, err := s.auth.GetUser(ctx, u.Username)
	if err != nil {
		return err
	}
	c.Header("Location", "/api/v1/users/"+url.PathEscape(a.Username))
	c.JSON(http.StatusCreated, accountOf(a))
	return nil
}

// patchUserRequest is a change to an account. Grants, when present, is the
// complete set of live grants the account should hold afterwards. Unlock,
// when true, lifts a lockout before it runs out (false is refused: a lock
// is applied only by failed passwords).
type patchUserRequest struct {
	Grants       *[]grantJSON        `json:"grants"`
	Affiliations *[]auth.Affiliation `json:"affiliations"`
	Active       *bool               `json:"active"`
	Unlock       *bool               `json:"unlock"`
}

// patchUser brings an account's live grants and status to the requested
// ones. Each step is its own audited change in auth; they run removals
// first (revocations, then deactivation) and additions last (grants,
// activation, unlock), so a failure part way leaves the account with no
// more privilege than before or after. Asking for the state the account
// already has changes nothing: unlocking an account that is not locked
// included.
func (s *Server) patchUser(c *gin.Context) error {
	username, err := usernameParam(c)
	if err != nil {
		return err
	}
	p, err := s.asAdmin(c)
	if err != nil {
		return err
	}
	var req patchUserRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.Grants == nil && req.Affiliations == nil && req.Active == nil && req.Unlock == nil:
		return trialgate.Errorf(trialgate.EInvalid, "nothing to change: set grants, affiliations, active or unlock")
	case req.Unlock != nil && !*req.Unlock:
		return trialgate.Errorf(trialgate.EInvalid, "unlock: only true is meaningful (accounts lock themselves after failed passwords)")
	}
	var want []auth.Grant
	if req.Grants != nil {
		if want, err = grantsOf(*req.Grants); err != nil {
			return err
		}
	}
	if req.Affiliations != nil {
		for i, a := range *req.Affiliations {
			if err := a.Validate(); err != nil {
				return err
			}
			if slices.Contains((*req.Affiliations)[:i], a) {
				return trialgate.Errorf(trialgate.EInvalid, "affiliation %s is listed twice", a)
			}
		}
	}
	ctx := c.Request.Context()
	cur, err := s.auth.GetUser(ctx, username)
	if err != nil {
		return err
	}
	var addAff, removeAff []auth.Affiliation
	if req.Affiliations != nil {
		have := map[auth.Affiliation]bool{}
		for _, a := range cur.Affiliations {
			have[a.Affiliation] = true
		}
		for _, a := range *req.Affiliations {
			if !have[a] {
				addAff = append(addAff, a)
			}
		}
		for _, a := range cur.Affiliations {
			if !slices.Contains(*req.Affiliations, a.Affiliation) {
				removeAff = append(removeAff, a.Affiliation)
			}
		}
	}
	var add, revoke []auth.Grant
	if req.Grants != nil {
		have := make(map[auth.Grant]bool, len(cur.Grants))
		for _, g := range cur.Grants {
			have[g.Grant] = true
		}
		wanted := make(map[auth.Grant]bool, len(want))
		for _, g := range want {
			wanted[g] = true
			if !have[g] {
				add = append(add, g)
			}
		}
		for _, g := range cur.Grants {
			if !wanted[g.Grant] {
				revoke = append(revoke, g.Grant)
			}
		}
	}
	by := p.Actor(auth.Admin)
	for _, g := range revoke {
		if err := s.auth.RevokeGrant(ctx, by, cur.Username, g); err != nil {
			return s.refused(c, p, err)
		}
	}
	if req.Active != nil && !*req.Active && cur.Active {
		if err := s.auth.Deactivate(ctx, by, cur.Username); err != nil {
			return s.refused(c, p, err)
		}
	}
	for _, a := range removeAff {
		if err := s.auth.RemoveAffiliation(ctx, by, cur.Username, a); err != nil {
			return s.refused(c, p, err)
		}
	}
	// Affiliations restrict (a reader loses the site's cases), so they
	// are added before any grant that could use them.
	for _, a := range addAff {
		if err := s.auth.AddAffiliation(ctx, by, cur.Username, a); err != nil {
			return s.refused(c, p, err)
		}
	}
	for _, g := range add {
		if err := s.auth.AddGrant(ctx, by, cur.Username, g); err != nil {
			return s.refused(c, p, err)
		}
	}
	if req.Active != nil && *req.Active && !cur.Active {
		if err := s.auth.Activate(ctx, by, cur.Username); err != nil {
			return s.refused(c, p, err)
		}
	}
	if req.Unlock != nil && !cur.LockedUntil.IsZero() {
		// A lock that ran out since it was read leaves nothing to lift
		// (conflict): the account is unlocked, as asked.
		if err := s.auth.Unlock(ctx, by, cur.Username); err != nil && trialgate.ErrorCode(err) != trialgate.EConflict {
			return s.refused(c, p, err)
		}
	}
	a, err := s.auth.GetUser(ctx, cur.Username)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, accountOf(a))
	return nil
}

// listUsers returns every account, active or not, with its live grants.
func (s *Server) listUsers(c *gin.Context) error {
	if _, err := s.asAdmin(c); err != nil {
		return err
	}
	accounts, err := s.auth.ListUsers(c.Request.Context())
	if err != nil {
		return err
	}
	out := make([]accountJSON, 0, len(accounts))
	for _, a := range accounts {
		out = append(out, accountOf(a))
	}
	c.JSON(http.StatusOK, gin.H{"users": out})
	return nil
}

// getUser returns one account with its live grants.
func (s *Server) getUser(c *gin.Context) error {
	username, err := usernameParam(c)
	if err != nil {
		return err
	}
	if _, err := s.asAdmin(c); err != nil {
		return err
	}
	a, err := s.auth.GetUser(c.Request.Context(), username)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, accountOf(a))
	return nil
}
