package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// NewUser is an account to create.
type NewUser struct {
	Username string // 3-64 characters of a-z, 0-9, '.', '_', '-'
	FullName string // the printed name shown with signatures
	Password string // checked against the policy (ValidatePassword)
	Grants   []Grant
	// Affiliations are the sites the person belongs to (see Affiliation).
	Affiliations []Affiliation
}

// GrantRecord is a live grant with when and by whom it was given.
type GrantRecord struct {
	Grant
	ID        string // "g_" + 24 hex digits
	GrantedAt time.Time
	GrantedBy string // actor id
}

// Account is a user with their live grants, as an administrator sees it.
type Account struct {
	User
	Grants       []GrantRecord
	Affiliations []AffiliationRecord
}

const (
	insertUser = `INSERT INTO users (id, username, full_name, active, password_hash, created_us, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	selectUsers = `SELECT id, username, full_name, active, created_us, locked_until_us FROM users`
	userByName  = selectUsers + ` WHERE username = $1`
	usersByName = selectUsers + ` ORDER BY username`
	setActive   = `UPDATE users SET active = $2 WHERE id = $1 AND active = $3`
	// unlockUser lifts a lock in force at $2 and clears the failure count.
	unlockUser      = `UPDATE users SET failed_logins = 0, locked_until_us = 0 WHERE id = $1 AND locked_until_us > $2`
	selectLockState = `SELECT failed_logins, locked_until_us FROM users WHERE id = $1`

	insertGrant = `INSERT INTO grants (id, user_id, role, trial, site, granted_us, granted_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	selectLiveGrant = `SELECT id FROM grants
		WHERE user_id = $1 AND role = $2 AND trial = $3 AND site = $4 AND revoked_us IS NULL`
	revokeGrant = `UPDATE grants SET revoked_us = $2, revoked_by = $3 WHERE id = $1 AND revoked_us IS NULL`
	// Live grants, ordered so that listings and principals are stable.
	grantColumns         = `id, user_id, role, trial, site, granted_us, granted_by`
	selectLiveGrantsOf   = `SELECT ` + grantColumns + ` FROM grants WHERE user_id = $1 AND revoked_us IS NULL ORDER BY role, trial, site`
	selectAllLiveGrants  = `SELECT ` + grantColumns + ` FROM grants WHERE revoked_us IS NULL ORDER BY user_id, role, trial, site`
	selectOpenSessionsOf = `SELECT id FROM sessions WHERE user_id = $1 AND ended_us IS NULL ORDER BY id`
	endSessionsOf        = `UPDATE sessions SET ended_us = $2, end_reason = $3 WHERE user_id = $1 AND ended_us IS NULL`
)

// querier is what reading needs: a db.Reader or a db.Tx.
type querier interface {
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// scanUser reads one row of selectUsers.
func scanUser(sc interface{ Scan(...any) error }, u *User, now time.Time) error {
	var created, locked int64
	if err := sc.Scan(&u.ID, &u.Username, &u.FullName, &u.Active, &created, &locked); err != nil {
		return err
	}
	u.Created = fromMicros(created)
	if locked != 0 && now.Before(fromMicros(locked)) {
		u.LockedUntil = fromMicros(locked)
	}
	return nil
}

// userNamed returns the account username, or a trialgate.ENotFound error.
func (s *Service) userNamed(ctx context.Context, q querier, username string) (User, error) {
	if ValidateUsername(username) != nil {
		// No account has such a name, and the database need not see it (a
		// NUL byte, say, which PostgreSQL refuses in text).
		return User{}, trialgate.Errorf(trialgate.ENotFound, "no user %q", username)
	}
	var u User
	err := scanUser(q.QueryRow(ctx, userByName, username), &u, s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, trialgate.Errorf(trialgate.ENotFound, "no user %q", username)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// grantRecords reads the rows of a grants query.
func grantRecords(ctx context.Context, q querier, query string, args ...any) (userIDs []string, out []GrantRecord, err error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read grants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g GrantRecord
		var user, role string
		var at int64
		if err := rows.Scan(&g.ID, &user, &role, &g.Trial, &g.Site, &at, &g.GrantedBy); err != nil {
			return nil, nil, fmt.Errorf("read grants: %w", err)
		}
		g.Role, g.GrantedAt = Role(role), fromMicros(at)
		userIDs = append(userIDs, user)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read grants: %w", err)
	}
	return userIDs, out, nil
}

// liveGrants returns the live grants of a user.
func liveGrants(ctx context.Context, q querier, userID string) ([]Grant, error) {
	_, recs, err := grantRecords(ctx, q, selectLiveGrantsOf, userID)
	if err != nil {
		return nil, err
	}
	gs := make([]Grant, len(recs))
	for i, r := range recs {
		gs[i] = r.Grant
	}
	return gs, nil
}

// grantFields describes a grant in an audit entry.
func grantFields(id string, g Grant) map[string]any {
	m := map[string]any{"grant_id": id, "role": string(g.Role)}
	if g.Trial != "" {
		m["trial"] = g.Trial
	}
	if g.Site != "" {
		m["site"] = g.Site
	}
	return m
}

// CreateUser creates an active account with the given grants and records
// user.created (username, full name and grants; never the password or its
// hash). It returns trialgate.EInvalid for a username, full name, password or
// grant that fails validation and trialgate.EConflict if the username is
// taken. by is who acts: an admin, or a system component such as the CLI;
// checking that is the caller's job.
func (s *Service) CreateUser(ctx context.Context, by audit.Actor, nu NewUser) (User, error) {
	if err := ValidateUsername(nu.Username); err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	if err := validateFullName(nu.FullName); err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	if err := ValidatePassword(nu.Username, nu.Password); err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	grants := make([]Grant, 0, len(nu.Grants))
	for _, g := range nu.Grants {
		if err := g.Validate(); err != nil {
			return User{}, fmt.Errorf("auth: create user: %w", err)
		}
		for _, h := range grants {
			if h == g {
				return User{}, fmt.Errorf("auth: create user: %w", trialgate.Errorf(trialgate.EInvalid, "grant %s is listed twice", g))
			}
		}
		grants = append(grants, g)
	}
	if err := checkAffiliations(nu.Affiliations); err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	hash, err := s.hash(ctx, nu.Password)
	if err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	now := s.now()
	u := User{ID: newID("u_"), Username: nu.Username, FullName: nu.FullName, Active: true, Created: now}
	err = s.db.Write(ctx, by, db.System, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, insertUser, u.ID, u.Username, u.FullName, true, hash, micros(now), by.ID); err != nil {
			if errors.Is(err, db.ErrDuplicate) {
				return trialgate.Errorf(trialgate.EConflict, "username %q is already taken", u.Username)
			}
			return err
		}
		for _, g := range grants {
			if _, err := tx.Exec(ctx, insertGrant, newID("g_"), u.ID, string(g.Role), g.Trial, g.Site, micros(now), by.ID); err != nil {
				return err
			}
		}
		after := map[string]any{"username": u.Username, "full_name": u.FullName, "active": true, "grants": grants}
		if err := tx.Audit(audit.Event{Action: audit.ActionUserCreated, Object: userObject(u.ID), After: after}); err != nil {
			return err
		}
		for _, a := range nu.Affiliations {
			if err := s.insertAffiliation(ctx, tx, by, u, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("auth: create user: %w", err)
	}
	return u, nil
}

// notSelf refuses a change by a person to their own account: an
// administrator must not raise their own privileges or lift their own
// deactivation.
func notSelf(by audit.Actor, u User) error {
	if by.ID == u.ID {
		return trialgate.Errorf(trialgate.EForbidden, "you cannot change your own account's grants or status")
	}
	return nil
}

// AddGrant gives the user username the grant g and records
// user.grant_added. It returns trialgate.EInvalid for an invalid grant,
// trialgate.ENotFound for an unknown user, trialgate.EConflict if the user already
// holds the grant, and trialgate.EForbidden if by is that user. Only an admin
// (or a system component) may call it; checking that is the caller's job.
func (s *Service) AddGrant(ctx context.Context, by audit.Actor, username string, g Grant) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("auth: add grant: %w", err)
	}
	err := s.db.Write(ctx, by, db.System, func(tx *db.Tx) error {
		u, err := s.userNamed(ctx, tx, normalizeUsername(username))
		if err != nil {
			return err
		}
		if err := notSelf(by, u); err != nil {
			return err
		}
		id := newID("g_")
		if _, err := tx.Exec(ctx, insertGrant, id, u.ID, string(g.Role), g.Trial, g.Site, micros(s.now()), by.ID); err != nil {
			if errors.Is(err, db.ErrDuplicate) {
				return trialgate.Errorf(trialgate.EConflict, "user %q already holds %s", u.Username, g)
			}
			return err
		}
		return tx.Audit(audit.Event{Action: audit.ActionUserGrantAdded, Object: userObject(u.ID), After: grantFields(id, g)})
	})
	if err != nil {
		return fmt.Errorf("auth: add grant: %w", err)
	}
	return nil
}

// RevokeGrant revokes the user's live grant g (the row stays, marked
// revoked) and records user.grant_revoked. It returns trialgate.ENotFound for
// an unknown user or a grant the user does not hold, and trialgate.EForbidden
// if by is that user. Only an admin (or a system component) may call it;
// checking that is the caller's job.
func (s *Service) RevokeGrant(ctx context.Context, by audit.Actor, username string, g Grant) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("auth: revoke grant: %w", err)
	}
	err := s.db.Write(ctx, by, db.System, func(tx *db.Tx) error {
		u, err := s.userNamed(ctx, tx, normalizeUsername(username))
		if err != nil {
			return err
		}
		if err := notSelf(by, u); err != nil {
			return err
		}
		var id string
		err = tx.QueryRow(ctx, selectLiveGrant, u.ID, string(g.Role), g.Trial, g.Site).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return trialgate.Errorf(trialgate.ENotFound, "user %q holds no grant %s", u.Username, g)
		}
		if err != nil {
			return fmt.Errorf("read grant: %w", err)
		}
		now := s.now()
		n, err := tx.Exec(ctx, revokeGrant, id, micros(now), by.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return trialgate.Errorf(trialgate.ENotFound, "user %q holds no grant %s", u.Username, g)
		}
		before := grantFields(id, g)
		before["status"] = "live"
		return tx.Audit(audit.Event{Action: audit.ActionUserGrantRevoke, Object: userObject(u.ID),
			Before: before, After: map[string]any{"grant_id": id, "status": "revoked"}})
	})
	if err != nil {
		return fmt.Errorf("auth: revoke grant: %w", err)
	}
	return nil
}

// Deactivate deactivates the account username, ends its open sessions
// (each recorded as auth.session_revoked) and records user.deactivated. A
// deactivated account cannot log in, authenticate or sign; it is never
// deleted. It returns trialgate.ENotFound for an unknown user,
// trialgate.EConflict if the account is already inactive, and
// trialgate.EForbidden if by is that user. Only an admin (or a system
// component) may call it; checking that is the caller's job.
func (s *Service) Deactivate(ctx context.Context, by audit.Actor, username string) error {
	if err := s.setActive(ctx, by, username, false); err != nil {
		return fmt.Errorf("auth: deactivate: %w", err)
	}
	return nil
}

// Activate reactivates the account username and records user.activated.
// Sessions ended by deactivation stay ended. Errors are as for Deactivate.
func (s *Service) Activate(ctx context.Context, by audit.Actor, username string) error {
	if err := s.setActive(ctx, by, username, true); err != nil {
		return fmt.Errorf("auth: activate: %w", err)
	}
	return nil
}

func (s *Service) setActive(ctx context.Context, by audit.Actor, username string, active bool) error {
	return s.db.Write(ctx, by, db.System, func(tx *db.Tx) error {
		u, err := s.userNamed(ctx, tx, normalizeUsername(username))
		if err != nil {
			return err
		}
		if err := notSelf(by, u); err != nil {
			return err
		}
		if u.Active == active {
			state := "inactive"
			if active {
				state = "active"
			}
			return trialgate.Errorf(trialgate.EConflict, "user %q is already %s", u.Username, state)
		}
		n, err := tx.Exec(ctx, setActive, u.ID, active, !active)
		if err != nil {
			return err
		}
		if n == 0 {
			return trialgate.Errorf(trialgate.EConflict, "user %q changed concurrently; try again", u.Username)
		}
		action := audit.ActionUserActivated
		if !active {
			action = audit.ActionUserDeactivated
		}
		if err := tx.Audit(audit.Event{Action: action, Object: userObject(u.ID),
			Before: map[string]any{"active": !active}, After: map[string]any{"active": active}}); err != nil {
			return err
		}
		if active {
			return nil
		}
		return s.endSessionsOf(ctx, tx, u)
	})
}

// endSessionsOf ends every open session of u inside tx, one
// auth.session_revoked entry each.
func (s *Service) endSessionsOf(ctx context.Context, tx *db.Tx, u User) error {
	rows, err := tx.Query(ctx, selectOpenSessionsOf, u.ID)
	if err != nil {
		return fmt.Errorf("read sessions: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("read sessions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read sessions: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, endSessionsOf, u.ID, micros(s.now()), endDeactivated); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Audit(audit.Event{Action: audit.ActionSessionRevoked, Object: sessionObject(id),
			Reason: fmt.Sprintf("account %s deactivated", u.Username)}); err != nil {
			return err
		}
	}
	return nil
}

// Unlock lifts the lockout of the account username before it runs out and
// clears its count of failed password attempts, recorded (on the system
// chain, with the lock's end and the count before) as the reset of that
// count, reason "unlocked by an administrator". It returns
// trialgate.ENotFound for an unknown user, trialgate.EConflict if the account
// is not locked, and trialgate.EForbidden if by is that user. Only an admin
// (or a system component) may call it; checking that is the caller's job.
func (s *Service) Unlock(ctx context.Context, by audit.Actor, username string) error {
	err := s.db.Write(ctx, by, db.System, func(tx *db.Tx) error {
		u, err := s.userNamed(ctx, tx, normalizeUsername(username))
		if err != nil {
			return err
		}
		if err := notSelf(by, u); err != nil {
			return err
		}
		var failures int
		var until int64
		if err := tx.QueryRow(ctx, selectLockState, u.ID).Scan(&failures, &until); err != nil {
			return fmt.Errorf("read lock: %w", err)
		}
		now := s.now()
		n, err := tx.Exec(ctx, unlockUser, u.ID, micros(now))
		if err != nil {
			return err
		}
		if n == 0 {
			return trialgate.Errorf(trialgate.EConflict, "user %q is not locked", u.Username)
		}
		return tx.Audit(audit.Event{Action: audit.ActionUserUnlocked, Object: userObject(u.ID),
			Reason: "unlocked by an administrator",
			Before: map[string]any{"failed_attempts": failures, "locked_until": stamp(fromMicros(until))},
			After:  map[string]any{"failed_attempts": 0, "locked_until": nil}})
	})
	if err != nil {
		return fmt.Errorf("auth: unlock: %w", err)
	}
	return nil
}

// GetUser returns the account username with its live grants, or
// trialgate.ENotFound.
func (s *Service) GetUser(ctx context.Context, username string) (Account, error) {
	var a Account
	err := s.db.Read(ctx, func(r *db.Reader) error {
		u, err := s.userNamed(ctx, r, normalizeUsername(username))
		if err != nil {
			return err
		}
		a.User = u
		if _, a.Grants, err = grantRecords(ctx, r, selectLiveGrantsOf, u.ID); err != nil {
			return err
		}
		_, a.Affiliations, err = affiliationRecords(ctx, r, selectLiveAffiliationsOf, u.ID)
		return err
	})
	if err != nil {
		return Account{}, fmt.Errorf("auth: get user: %w", err)
	}
	return a, nil
}

// ListUsers returns every account, active or not, by username, with its
// live grants.
func (s *Service) ListUsers(ctx context.Context) ([]Account, error) {
	var out []Account
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, usersByName)
		if err != nil {
			return fmt.Errorf("read users: %w", err)
		}
		now := s.now()
		index := map[string]int{}
		for rows.Next() {
			var a Account
			if err := scanUser(rows, &a.User, now); err != nil {
				rows.Close()
				return fmt.Errorf("read users: %w", err)
			}
			index[a.ID] = len(out)
			out = append(out, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read users: %w", err)
		}
		users, grants, err := grantRecords(ctx, r, selectAllLiveGrants)
		if err != nil {
			return err
		}
		for i, g := range grants {
			if j, ok := index[users[i]]; ok {
				out[j].Grants = append(out[j].Grants, g)
			}
		}
		users, affs, err := affiliationRecords(ctx, r, selectAllLiveAffiliations)
		if err != nil {
			return err
		}
		for i, a := range affs {
			if j, ok := index[users[i]]; ok {
				out[j].Affiliations = append(out[j].Affiliations, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return out, nil
}
