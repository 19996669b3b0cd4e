package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Anonymous is the actor ID of login attempts, which act for nobody yet.
const Anonymous = "anonymous"

// Token is a bearer token. It formats as "[token]" (fmt, slog) so it never
// reaches a log by accident; string(t) is the value to hand to the client.
// It encodes to JSON as its value.
type Token string

// String implements fmt.Stringer with a redacted form.
func (Token) String() string { return "[token]" }

// GoString implements fmt.GoStringer with a redacted form.
func (Token) GoString() string { return "[token]" }

// LogValue implements slog.LogValuer with a redacted form.
func (Token) LogValue() slog.Value { return slog.StringValue("[token]") }

// Session is a successful login.
type Session struct {
	ID        string    // names the session in the audit trail
	Token     Token     // the bearer token; shown to the client once, stored only as its SHA-256
	ExpiresAt time.Time // absolute expiry; the idle timeout may end it sooner
	User      User
}

// tokenBytes is the entropy of a token: 256 bits.
const tokenBytes = 32

// newToken returns a fresh token and its SHA-256.
func newToken() (Token, [sha256.Size]byte) {
	var b [tokenBytes]byte
	rand.Read(b[:])
	t := base64.RawURLEncoding.EncodeToString(b[:])
	return Token(t), sha256.Sum256([]byte(t))
}

// tokenHash returns the SHA-256 under which token is stored, and false if
// token cannot be one of ours (so it is refused without a database query).
func tokenHash(token string) ([sha256.Size]byte, bool) {
	if base64.RawURLEncoding.EncodedLen(tokenBytes) != len(token) {
		return [sha256.Size]byte{}, false
	}
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != tokenBytes {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256([]byte(token)), true
}

// activityKey is the db.MarkActivity key of a session.
func activityKey(sessionID string) string { return "session/" + sessionID }

// Reasons a session ended (sessions.end_reason).
const (
	endLogout      = "logout"
	endExpired     = "expired"
	endIdle        = "idle"
	endDeactivated = "deactivated"
)

const (
	selectCredentials = `SELECT id, username, full_name, active, created_us, password_hash, failed_logins, locked_until_us
		FROM users`
	credentialsByUsername = selectCredentials + ` WHERE username = $1`
	credentialsByID       = selectCredentials + ` WHERE id = $1`

	// countFailure counts a wrong password on an account that is not
	// locked now; a lock that has run out starts a fresh count. It
	// matches no row while the account is locked.
	countFailure = `UPDATE users SET
		failed_logins = CASE WHEN locked_until_us = 0 THEN failed_logins + 1 ELSE 1 END,
		locked_until_us = 0
		WHERE id = $1 AND locked_until_us <= $2`
	selectFailures = `SELECT failed_logins FROM users WHERE id = $1`
	lockAccount    = `UPDATE users SET locked_until_us = $2 WHERE id = $1`
	// resetFailures clears the count after a correct password. It matches
	// no row if the account was locked or deactivated since it was read,
	// which is how a login racing a lockout is refused.
	resetFailures = `UPDATE users SET failed_logins = 0, locked_until_us = 0
		WHERE id = $1 AND active = $2 AND locked_until_us <= $3`
	updatePasswordHash = `UPDATE users SET password_hash = $2 WHERE id = $1`

	insertSession = `INSERT INTO sessions (id, token_hash, user_id, created_us, expires_us, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	selectSession = `SELECT s.id, s.token_hash, s.created_us, s.expires_us, s.ended_us,
		u.id, u.username, u.full_name, u.active, u.created_us, u.locked_until_us
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`
	endSession = `UPDATE sessions SET ended_us = $2, end_reason = $3 WHERE id = $1 AND ended_us IS NULL`
)

// credentials is what checking a password needs to know of an account.
type credentials struct {
	User
	hash     string
	failures int
}

// lockedAt reports whether the account is locked at now.
func (c *credentials) lockedAt(now time.Time) bool {
	return !c.LockedUntil.IsZero() && now.Before(c.LockedUntil)
}

// loadCredentials reads an account by query (credentialsByUsername or
// credentialsByID); found is false if there is none.
func (s *Service) loadCredentials(ctx context.Context, query, key string) (c credentials, found bool, err error) {
	err = s.db.Read(ctx, func(r *db.Reader) error {
		var created, locked int64
		err := r.QueryRow(ctx, query, key).Scan(&c.ID, &c.Username, &c.FullName, &c.Active, &created,
			&c.hash, &c.failures, &locked)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		c.Created = fromMicros(created)
		if locked != 0 {
			c.LockedUntil = fromMicros(locked)
		}
		return nil
	})
	return c, found, err
}

// dummyHash returns a hash to verify when there is no account, so that an
// unknown username costs as much as a known one.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy = hashPassword(rand.Text(), s.cfg.Argon2) })
	return s.dummy
}

// verify checks password against a stored hash ("" when there is no
// account: the dummy hash is checked instead, and ok is false). rehash
// reports that the stored hash uses other parameters than the configured
// ones. The work is the same whatever the outcome.
func (s *Service) verify(ctx context.Context, stored, password string) (ok, rehash bool, err error) {
	target := stored
	if target == "" {
		target = s.dummyHash()
	}
	h, err := parsePHC(target)
	if err != nil {
		return false, false, err
	}
	if err := s.withHashSlot(ctx, func() { ok = h.matches(password) }); err != nil {
		return false, false, err
	}
	return ok && stored != "", h.params != s.cfg.Argon2, nil
}

// hash hashes a new password with the configured parameters.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var h string
	err := s.withHashSlot(ctx, func() { h = hashPassword(password, s.cfg.Argon2) })
	return h, err
}

// loginRefused is the one public answer to every failed login but the
// right password of a locked account.
func loginRefused() error {
	return trialgate.Errorf(trialgate.EUnauthorized, "invalid username or password")
}

// LockedError is why the right password of a locked account was refused.
// Login returns it as the cause of a trialgate.ELocked error whose message
// says until when and how an administrator lifts the lock.
type LockedError struct {
	Username string
	Until    time.Time // when the lock runs out
	Failures int       // the consecutive wrong passwords that locked it
}

// Error describes the lock.
func (e *LockedError) Error() string {
	return fmt.Sprintf("auth: account %s locked until %s", e.Username, e.Until.UTC().Format(time.RFC3339))
}

// ErrorDetails returns the fields an error response carries beside its
// code and message: locked_until (RFC 3339, UTC) and failed_attempts.
func (e *LockedError) ErrorDetails() map[string]any {
	return map[string]any{"locked_until": e.Until.UTC().Format(time.RFC3339), "failed_attempts": e.Failures}
}

// accountLocked is the answer to the right password of a locked account.
func accountLocked(cr credentials) error {
	le := &LockedError{Username: cr.Username, Until: cr.LockedUntil, Failures: cr.failures}
	return &trialgate.Error{Code: trialgate.ELocked, Err: le, Message: fmt.Sprintf(
		"account locked until %s after %d failed password attempts; an administrator can unlock it with "+
			"`gateway user unlock --username %s` or PATCH /api/v1/users/%s {\"unlock\": true}",
		le.Until.UTC().Format(time.RFC3339), le.Failures, le.Username, le.Username)}
}

// errStale means the account or session changed between the read that
// decided and the write that acts; the write is abandoned.
var errStale = errors.New("auth: state changed concurrently")

// attemptedUsername is what a login entry records of the typed username:
// the username when it is well-formed. Anything else is not recorded, as
// people sometimes type their password into the username field.
func attemptedUsername(name string) map[string]any {
	if ValidateUsername(name) != nil {
		return map[string]any{"username_malformed": true}
	}
	return map[string]any{"username": name}
}

// Login checks a username and password and starts a session. Every attempt
// is recorded on the system chain (auth.login, with the client's address),
// and consecutive wrong passwords lock the account (see the package
// documentation). A refusal returns trialgate.EUnauthorized "invalid
// username or password", whatever the reason (the audit entry records it),
// with one exception: the right password of a locked account gets a
// trialgate.ELocked error caused by a *LockedError, saying until when the
// account is locked and how an administrator unlocks it.
func (s *Service) Login(ctx context.Context, username, password string, c Client) (Session, error) {
	name := normalizeUsername(username)
	var cr credentials
	found := false
	if ValidateUsername(name) == nil {
		var err error
		if cr, found, err = s.loadCredentials(ctx, credentialsByUsername, name); err != nil {
			return Session{}, fmt.Errorf("auth: login: %w", err)
		}
	}
	ok, rehash, verr := s.verify(ctx, cr.hash, password)
	now := s.now()

	anon := audit.Actor{ID: Anonymous, IP: c.IP, UserAgent: c.UserAgent}
	ev := audit.Event{Action: audit.ActionLogin, After: attemptedUsername(name)}
	record := func(outcome audit.Outcome, reason string) error {
		ev.Outcome, ev.Reason = outcome, reason
		if err := s.db.Record(ctx, anon, db.System, ev); err != nil {
			return fmt.Errorf("auth: login: %w", err)
		}
		return nil
	}
	refuse := func(outcome audit.Outcome, reason string) error {
		if err := record(outcome, reason); err != nil {
			return err
		}
		return loginRefused()
	}
	if found {
		ev.Object = userObject(cr.ID)
	}
	switch {
	case errors.Is(verr, errMalformedHash):
		// Only a damaged database gets here: fail closed, and as an
		// internal error, so that it is logged in full.
		if err := record(audit.Failed, "the stored password hash is malformed"); err != nil {
			return Session{}, err
		}
		return Session{}, fmt.Errorf("auth: login: account %s: %w", cr.ID, verr)
	case verr != nil:
		return Session{}, fmt.Errorf("auth: login: %w", verr)
	case !found:
		return Session{}, refuse(audit.Failed, "unknown username")
	case !cr.Active:
		return Session{}, refuse(audit.Denied, "account inactive")
	case cr.lockedAt(now) && !ok:
		// Not counted, so a lock is never extended by more guesses; and
		// answered as any wrong password, so guessing learns nothing.
		return Session{}, refuse(audit.Denied, "account locked; wrong password")
	case cr.lockedAt(now):
		// Only someone who knows the password learns of the lock, and
		// its owner needs to know why they cannot sign in.
		if err := record(audit.Denied, "account locked"); err != nil {
			return Session{}, err
		}
		return Session{}, accountLocked(cr)
	case !ok:
		ev.Outcome, ev.Reason = audit.Failed, "wrong password"
		if _, err := s.countFailure(ctx, anon, cr.ID, ev, now); err != nil {
			return Session{}, fmt.Errorf("auth: login: %w", err)
		}
		return Session{}, loginRefused()
	}

	var newHash string
	if rehash {
		var err error
		if newHash, err = s.hash(ctx, password); err != nil {
			return Session{}, fmt.Errorf("auth: login: %w", err)
		}
	}
	token, sum := newToken()
	sess := Session{ID: newID("s_"), Token: token, ExpiresAt: now.Add(s.cfg.SessionTTL), User: cr.User}
	sess.User.LockedUntil = time.Time{}
	actor := audit.Actor{ID: cr.ID, Username: cr.Username, FullName: cr.FullName, Session: sess.ID,
		IP: c.IP, UserAgent: c.UserAgent}
	err := s.db.Write(ctx, actor, db.System, func(tx *db.Tx) error {
		n, err := tx.Exec(ctx, resetFailures, cr.ID, true, micros(now))
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale
		}
		after := map[string]any{"username": cr.Username, "session_expires_at": stamp(sess.ExpiresAt)}
		if newHash != "" {
			if _, err := tx.Exec(ctx, updatePasswordHash, cr.ID, newHash); err != nil {
				return err
			}
			after["password_rehashed"] = true
		}
		if _, err := tx.Exec(ctx, insertSession, sess.ID, sum[:], cr.ID, micros(now), micros(sess.ExpiresAt),
			c.IP, c.UserAgent); err != nil {
			return err
		}
		return tx.Audit(audit.Event{Action: audit.ActionLogin, Object: userObject(cr.ID), After: after})
	})
	switch {
	case errors.Is(err, errStale):
		return Session{}, refuse(audit.Denied, "account locked or deactivated during login")
	case err != nil:
		return Session{}, fmt.Errorf("auth: login: %w", err)
	}
	return sess, nil
}

// countFailure records a wrong password for account id in one transaction:
// the failure count, the attempt's entry ev (outcome failed), and, when the
// count reaches the threshold, the lock and its auth.locked_out entry.
// locked reports whether this failure locked the account.
func (s *Service) countFailure(ctx context.Context, actor audit.Actor, id string, ev audit.Event, now time.Time) (locked bool, err error) {
	err = s.db.Write(ctx, actor, db.System, func(tx *db.Tx) error {
		locked = false
		n, err := tx.Exec(ctx, countFailure, id, micros(now))
		if err != nil {
			return err
		}
		if n == 0 {
			// Locked since it was read: refused as any attempt on a
			// locked account, and not counted.
			ev.Outcome, ev.Reason = audit.Denied, "account locked"
			return tx.Audit(ev)
		}
		var failures int
		if err := tx.QueryRow(ctx, selectFailures, id).Scan(&failures); err != nil {
			return fmt.Errorf("read failures: %w", err)
		}
		if err := tx.Audit(ev); err != nil {
			return err
		}
		if failures < s.cfg.LockoutThreshold {
			return nil
		}
		until := now.Add(s.cfg.LockoutDuration)
		if _, err := tx.Exec(ctx, lockAccount, id, micros(until)); err != nil {
			return err
		}
		locked = true
		return tx.Audit(audit.Event{
			Action: audit.ActionLockedOut,
			Object: userObject(id),
			Reason: fmt.Sprintf("%d consecutive wrong passwords", failures),
			After:  map[string]any{"locked_until": stamp(until), "failed_attempts": failures},
		})
	})
	return locked, err
}

// invalidSession is the answer to a token that names no live session.
func invalidSession() error {
	return trialgate.Errorf(trialgate.EUnauthorized, "invalid or expired session")
}

// Authenticate resolves a bearer token to the principal it belongs to,
// seen from client. It refuses (trialgate.EUnauthorized) a token that is
// malformed, unknown, logged out, past its absolute expiry or idle timeout,
// or whose account is inactive. The first request on an expired session
// ends it and records auth.token_expired; later ones are simply refused.
// Other refusals record nothing here: the caller records the refused
// request (access.denied).
func (s *Service) Authenticate(ctx context.Context, token string, client Client) (*Principal, error) {
	sum, ok := tokenHash(token)
	if !ok {
		return nil, invalidSession()
	}
	var (
		p                 = &Principal{Client: client}
		stored            []byte
		created, expires  int64
		ended             sql.NullInt64
		userCreated, lock int64
		last              time.Time
		found             bool
	)
	err := s.db.Read(ctx, func(r *db.Reader) error {
		err := r.QueryRow(ctx, selectSession, sum[:]).Scan(&p.SessionID, &stored, &created, &expires, &ended,
			&p.User.ID, &p.User.Username, &p.User.FullName, &p.User.Active, &userCreated, &lock)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read session: %w", err)
		}
		found = true
		if p.Grants, err = liveGrants(ctx, r, p.User.ID); err != nil {
			return err
		}
		last, err = r.Activity(ctx, activityKey(p.SessionID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: authenticate: %w", err)
	}
	// The lookup was by hash; comparing again costs nothing and keeps the
	// decision independent of how the database compares.
	if !found || subtle.ConstantTimeCompare(stored, sum[:]) != 1 || ended.Valid || !p.User.Active {
		return nil, invalidSession()
	}
	now := s.now()
	p.User.Created = fromMicros(userCreated)
	if lock != 0 && now.Before(fromMicros(lock)) {
		p.User.LockedUntil = fromMicros(lock)
	}
	p.ExpiresAt = fromMicros(expires)
	if c := fromMicros(created); last.Before(c) {
		last = c
	}
	switch {
	case !now.Before(p.ExpiresAt):
		return nil, s.expire(ctx, p, now, endExpired,
			fmt.Sprintf("the session reached its absolute lifetime (%s)", s.cfg.SessionTTL))
	case now.Sub(last) >= s.cfg.IdleTimeout:
		return nil, s.expire(ctx, p, now, endIdle,
			fmt.Sprintf("the session was unused for %s (idle timeout %s)", now.Sub(last).Round(time.Second), s.cfg.IdleTimeout))
	}
	if now.Sub(last) >= s.cfg.ActivityInterval {
		if err := s.db.MarkActivity(ctx, activityKey(p.SessionID), now); err != nil {
			return nil, fmt.Errorf("auth: authenticate: %w", err)
		}
	}
	return p, nil
}

// expire ends an expired session and records auth.token_expired, once: a
// concurrent request that ended it first leaves nothing to record. It
// always returns the error to give the client.
func (s *Service) expire(ctx context.Context, p *Principal, now time.Time, why, reason string) error {
	err := s.db.Write(ctx, p.Actor(""), db.System, func(tx *db.Tx) error {
		n, err := tx.Exec(ctx, endSession, p.SessionID, micros(now), why)
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale
		}
		return tx.Audit(audit.Event{Action: audit.ActionTokenExpired, Object: sessionObject(p.SessionID),
			Reason: reason, Outcome: audit.Denied})
	})
	if err != nil && !errors.Is(err, errStale) {
		return fmt.Errorf("auth: authenticate: %w", err)
	}
	return trialgate.Errorf(trialgate.EUnauthorized, "session expired")
}

// Logout ends the principal's session and records auth.logout. A session
// that has already ended gives trialgate.EUnauthorized.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p == nil || p.SessionID == "" {
		return trialgate.Errorf(trialgate.EUnauthorized, "not logged in")
	}
	now := s.now()
	err := s.db.Write(ctx, p.Actor(""), db.System, func(tx *db.Tx) error {
		n, err := tx.Exec(ctx, endSession, p.SessionID, micros(now), endLogout)
		if err != nil {
			return err
		}
		if n == 0 {
			return errStale
		}
		return tx.Audit(audit.Event{Action: audit.ActionLogout, Object: sessionObject(p.SessionID)})
	})
	switch {
	case errors.Is(err, errStale):
		return trialgate.Errorf(trialgate.EUnauthorized, "the session has already ended")
	case err != nil:
		return fmt.Errorf("auth: logout: %w", err)
	}
	return nil
}
