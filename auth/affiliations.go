package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Affiliation says that a person belongs to a site of a trial (works
// there, or for it). A reader is never given a blinded case from a site
// they belong to; the sites a person uploads for count as theirs too.
type Affiliation struct {
	Trial string `json:"trial"`
	Site  string `json:"site"`
}

// String returns "trial:site".
func (a Affiliation) String() string { return a.Trial + ":" + a.Site }

// Validate checks that a names one trial (not every trial) and one site.
func (a Affiliation) Validate() error {
	switch {
	case !trialgate.ValidID(a.Trial):
		return trialgate.Errorf(trialgate.EInvalid, "affiliation trial: %q is not a trial id (1-64 of A-Z a-z 0-9 . _ -)", clipID(a.Trial))
	case !trialgate.ValidID(a.Site):
		return trialgate.Errorf(trialgate.EInvalid, "affiliation site: %q is not a site id (1-64 of A-Z a-z 0-9 . _ -)", clipID(a.Site))
	}
	return nil
}

// clipID shortens an echoed id.
func clipID(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// AffiliationRecord is a live affiliation with when and by whom it was
// recorded.
type AffiliationRecord struct {
	Affiliation
	ID      string
	AddedAt time.Time
	AddedBy string // actor id
}

const (
	insertAffiliation = `INSERT INTO user_affiliations (id, user_id, trial, site, added_us, added_by)
		VALUES ($1, $2, $3, $4, $5, $6)`
	selectLiveAffiliation = `SELECT id FROM user_affiliations
		WHERE user_id = $1 AND trial = $2 AND site = $3 AND removed_us IS NULL`
	removeAffiliation        = `UPDATE user_affiliations SET removed_us = $2, removed_by = $3 WHERE id = $1 AND removed_us IS NULL`
	affiliationColumns       = `id, user_id, trial, site, added_us, added_by`
	selectLiveAffiliationsOf = `SELECT ` + affiliationColumns + ` FROM user_affiliations
		WHERE user_id = $1 AND removed_us IS NULL ORDER BY trial, site`
	selectAllLiveAffiliations = `SELECT ` + affiliationColumns + ` FROM user_affiliations
		WHERE removed_us IS NULL ORDER BY user_id, trial, site`
	// selectMembers lists the active accounts holding a live grant of a
	// role in a trial.
	selectMembers = `SELECT u.id, u.username, u.full_name FROM users u
		WHERE u.active AND EXISTS (SELECT 1 FROM grants g WHERE g.user_id = u.id AND g.role = $2 AND g.trial = $1
			AND g.revoked_us IS NULL) ORDER BY u.username`
	// selectMemberSites lists, per account, the sites of a trial it belongs
	// to: its live affiliations and the sites it uploads for.
	selectMemberSites = `SELECT user_id, site FROM user_affiliations WHERE trial = $1 AND removed_us IS NULL
		UNION SELECT user_id, site FROM grants WHERE trial = $1 AND role = 'site_uploader' AND revoked_us IS NULL`
)

func affiliationFields(id string, a Affiliation) map[string]any {
	return map[string]any{"affiliation_id": id, "trial": a.Trial, "site": a.Site}
}

// affiliationRecords reads live affiliations; it returns each one's user id
// beside it.
func affiliationRecords(ctx context.Context, q querier, query string, args ...any) ([]string, []AffiliationRecord, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read affiliations: %w", err)
	}
	defer rows.Close()
	var users []string
	var out []AffiliationRecord
	for rows.Next() {
		var r AffiliationRecord
		var user string
		var added int64
		if err := rows.Scan(&r.ID, &user, &r.Trial, &r.Site, &added, &r.AddedBy); err != nil {
			return nil, nil, fmt.Errorf("read affiliations: %w", err)
		}
		r.AddedAt = fromMicros(added)
		users = append(users, user)
		out = append(out, r)
	}
	return users, out, rows.Err()
}

// checkAffiliations validates a list of affiliations, refusing repeats.
func checkAffiliations(as []Affiliation) error {
	for i, a := range as {
		if err := a.Validate(); err != nil {
			return err
		}
		if slices.Contains(as[:i], a) {
			return trialgate.Errorf(trialgate.EInvalid, "affiliation %s is listed twice", a)
		}
	}
	return nil
}

// AddAffiliation records that the user username belongs to a site of a
// trial (user.affiliation_added). It returns trialgate.EInvalid for an
// invalid affiliation, ENotFound for an unknown user, EConflict if it is
// already recorded, and EForbidden if by is that user. Only an admin (or a
// system component) may call it; checking that is the caller's job.
func (s *Service) AddAffiliation(ctx context.Context, by audit.Actor, username string, a Affiliation) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("auth: add affiliation: %w", err)
	}
	err := s.db.Write(ctx, by, db.System, func(tx *db.Tx) error {
		u, err := s.userNamed(ctx, tx, normalizeUsername(username))
		if err != nil {
			return err
		}
		if err := notSelf(by, u); err != nil {
			return err
		}
		return s.insertAffiliation(ctx, tx, by, u, a)
	})
	if err != nil {
		return fmt.Errorf("auth: add affiliation: %w", err)
	}
	return nil
}

// insertAffiliation records an affiliation of u inside tx, audited.
func (s *Service) insertAffiliation(ctx context.Context, tx *db.Tx, by audit.Actor, u User, a Affiliation) error {
	id := newID("a_")
	if _, err := tx.Exec(ctx, insertAffiliation, id, u.ID, a.Trial, a.Site, micros(s.now()), by.ID); err != nil {
		if errors.Is(err, db.ErrDuplicate) {
			return trialgate.Errorf(trialgate.EConflict, "user %q is already affiliated with %s", u.Username, a)
		}
		return err
	}
	return tx.Audit(audit.Event{Action: audit.ActionUserAffiliationAdded, Object: userObject(u.ID), After: affiliationFields(id, a)})
}

// RemoveAffiliation ends a live affiliation (the row stays, marked
// removed) and records user.affiliation_removed. Errors as for
// AddAffiliation; ENotFound when the user has no such affiliation.
func (s *Service) RemoveAffiliation(ctx context.Context, by audit.Actor, username string, a Affiliation) error {
	if err := a.Validate(); err != nil {
		return fmt.Errorf("auth: remove affiliation: %w", err)
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
		err = tx.QueryRow(ctx, selectLiveAffiliation, u.ID, a.Trial, a.Site).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return trialgate.Errorf(trialgate.ENotFound, "user %q has no affiliation %s", u.Username, a)
		}
		if err != nil {
			return fmt.Errorf("read affiliation: %w", err)
		}
		n, err := tx.Exec(ctx, removeAffiliation, id, micros(s.now()), by.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return trialgate.Errorf(trialgate.ENotFound, "user %q has no affiliation %s", u.Username, a)
		}
		before := affiliationFields(id, a)
		before["status"] = "live"
		return tx.Audit(audit.Event{Action: audit.ActionUserAffiliationRemoved, Object: userObject(u.ID),
			Before: before, After: map[string]any{"affiliation_id": id, "status": "removed"}})
	})
	if err != nil {
		return fmt.Errorf("auth: remove affiliation: %w", err)
	}
	return nil
}

// Member is an active account holding a role in a trial, with the sites
// of the trial it belongs to (its affiliations and the sites it uploads
// for), as reader assignment needs it.
type Member struct {
	ID       string
	Username string
	FullName string
	Sites    []string // sorted
}

// Members returns the active accounts holding a live grant of role for
// the trial itself (not a grant for every trial), by username.
func (s *Service) Members(ctx context.Context, trialID string, role Role) ([]Member, error) {
	var out []Member
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, selectMembers, trialID, string(role))
		if err != nil {
			return err
		}
		index := map[string]int{}
		for rows.Next() {
			var m Member
			if err := rows.Scan(&m.ID, &m.Username, &m.FullName); err != nil {
				rows.Close()
				return err
			}
			index[m.ID] = len(out)
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		srows, err := r.Query(ctx, selectMemberSites, trialID)
		if err != nil {
			return err
		}
		defer srows.Close()
		for srows.Next() {
			var id, site string
			if err := srows.Scan(&id, &site); err != nil {
				return err
			}
			if i, ok := index[id]; ok && !slices.Contains(out[i].Sites, site) {
				out[i].Sites = append(out[i].Sites, site)
			}
		}
		return srows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("auth: members of trial %s: %w", trialID, err)
	}
	for i := range out {
		slices.Sort(out[i].Sites)
	}
	return out, nil
}
