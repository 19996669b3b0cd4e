package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
)

// Signature meanings (21 CFR 11.50(a)(3)): what a signer attests.
const (
	MeaningAuthorship = "authorship" // I wrote this (e.g. a read result)
	MeaningReview     = "review"     // I reviewed this (e.g. an audit trail period)
	MeaningApproval   = "approval"   // I approve this
	MeaningLock       = "lock"       // I lock this data against change
	MeaningUnlock     = "unlock"     // I lift a lock (with a reason)
)

// Meanings returns the controlled list of signature meanings.
func Meanings() []string {
	return []string{MeaningAuthorship, MeaningReview, MeaningApproval, MeaningLock, MeaningUnlock}
}

// ValidMeaning reports whether m is in the controlled list.
func ValidMeaning(m string) bool { return slices.Contains(Meanings(), m) }

// ErrSignatureMismatch means a record's bytes are not the ones that were
// signed: the record changed after signing.
var ErrSignatureMismatch = errors.New("auth: the record does not match its signature")

// recordHash returns the hex SHA-256 of a record's canonical bytes.
func recordHash(record []byte) string {
	sum := sha256.Sum256(record)
	return hex.EncodeToString(sum[:])
}

// Sign makes an electronic signature of record by the principal with the
// given meaning (one of Meanings). The password is checked every time, even
// within a session (21 CFR 11.200(a)(1)); a wrong one is recorded
// (esign.failed) and counts toward lockout exactly like a failed login, and
// a locked or inactive account cannot sign.
//
// record must be the canonical bytes of the signed record, the same bytes
// VerifySignature is later given: a deterministic encoding (e.g. RFC 8785
// JSON) of exactly the fields the signature attests to. The signature binds
// the printed name, the time, the meaning and the record's SHA-256
// (21 CFR 11.50, 11.70).
//
// A successful signature is not recorded here: the caller records the
// returned audit.Signature on the audit entry of the signed change, in the
// same transaction, so a signature never exists without its change. Errors:
// trialgate.EInvalid for an unknown meaning or an empty record,
// trialgate.EUnauthorized when the signature is refused.
func (s *Service) Sign(ctx context.Context, p *Principal, password, meaning string, record []byte) (audit.Signature, error) {
	if !ValidMeaning(meaning) {
		return audit.Signature{}, trialgate.Errorf(trialgate.EInvalid, "unknown signature meaning %q: want one of %s",
			meaning, strings.Join(Meanings(), ", "))
	}
	if len(record) == 0 {
		return audit.Signature{}, trialgate.Errorf(trialgate.EInvalid, "nothing to sign: the record is empty")
	}
	if p == nil || p.User.ID == "" {
		return audit.Signature{}, trialgate.Errorf(trialgate.EUnauthorized, "not logged in")
	}
	sum := recordHash(record)
	cr, found, err := s.loadCredentials(ctx, credentialsByID, p.User.ID)
	if err != nil {
		return audit.Signature{}, fmt.Errorf("auth: sign: %w", err)
	}
	ok, _, verr := s.verify(ctx, cr.hash, password)
	now := s.now()

	actor := p.Actor("")
	ev := audit.Event{Action: audit.ActionSignFailed, Object: userObject(p.User.ID),
		After: map[string]any{"meaning": meaning, "record_sha256": sum}}
	recordRefusal := func(outcome audit.Outcome, reason string) error {
		ev.Outcome, ev.Reason = outcome, reason
		if err := s.db.Record(ctx, actor, db.System, ev); err != nil {
			return fmt.Errorf("auth: sign: %w", err)
		}
		return nil
	}
	refuse := func(outcome audit.Outcome, reason, message string) error {
		if err := recordRefusal(outcome, reason); err != nil {
			return err
		}
		return trialgate.Errorf(trialgate.EUnauthorized, "signature refused: %s", message)
	}
	switch {
	case errors.Is(verr, errMalformedHash):
		// Only a damaged database gets here: fail closed, as an internal
		// error, so that it is logged in full.
		if err := recordRefusal(audit.Failed, "the stored password hash is malformed"); err != nil {
			return audit.Signature{}, err
		}
		return audit.Signature{}, fmt.Errorf("auth: sign: account %s: %w", cr.ID, verr)
	case verr != nil:
		return audit.Signature{}, fmt.Errorf("auth: sign: %w", verr)
	case !found || !cr.Active:
		return audit.Signature{}, refuse(audit.Denied, "account inactive", "the account is inactive")
	case cr.lockedAt(now):
		return audit.Signature{}, refuse(audit.Denied, "account locked",
			"the account is locked after repeated wrong passwords; try again later")
	case !ok:
		ev.Outcome, ev.Reason = audit.Failed, "wrong password"
		locked, err := s.countFailure(ctx, actor, cr.ID, ev, now)
		if err != nil {
			return audit.Signature{}, fmt.Errorf("auth: sign: %w", err)
		}
		if locked {
			return audit.Signature{}, trialgate.Errorf(trialgate.EUnauthorized,
				"signature refused: wrong password; the account is now locked after repeated wrong passwords")
		}
		return audit.Signature{}, trialgate.Errorf(trialgate.EUnauthorized, "signature refused: wrong password")
	}
	if cr.failures > 0 {
		// The right password ends a run of failures, as a login does;
		// unlike a login it writes nothing else, so it needs its own entry.
		err := s.db.Write(ctx, actor, db.System, func(tx *db.Tx) error {
			n, err := tx.Exec(ctx, resetFailures, cr.ID, true, micros(now))
			if err != nil {
				return err
			}
			if n == 0 {
				return errStale
			}
			return tx.Audit(audit.Event{Action: audit.ActionFailuresReset, Object: userObject(cr.ID),
				Before: map[string]any{"failed_attempts": cr.failures}, After: map[string]any{"failed_attempts": 0}})
		})
		switch {
		case errors.Is(err, errStale):
			return audit.Signature{}, refuse(audit.Denied, "account locked or deactivated while signing",
				"the account was locked or deactivated")
		case err != nil:
			return audit.Signature{}, fmt.Errorf("auth: sign: %w", err)
		}
	}
	return audit.Signature{
		Signer:       cr.ID,
		Name:         cr.FullName,
		Meaning:      meaning,
		Time:         stamp(now),
		RecordSHA256: sum,
	}, nil
}

// VerifySignature reports whether sig is a well-formed signature of record
// (the record's canonical bytes, as given to Sign). A record that changed
// after signing gives an error wrapping ErrSignatureMismatch (code
// trialgate.EConflict); a malformed signature gives trialgate.EInvalid. It checks
// the binding of signature to record, not who may sign: the signature's
// own audit entry, in the verified chain, attests to that.
func VerifySignature(sig audit.Signature, record []byte) error {
	switch {
	case sig.Signer == "" || sig.Name == "":
		return trialgate.Errorf(trialgate.EInvalid, "malformed signature: no signer")
	case !ValidMeaning(sig.Meaning):
		return trialgate.Errorf(trialgate.EInvalid, "malformed signature: unknown meaning %q", sig.Meaning)
	case len(sig.RecordSHA256) != 2*sha256.Size || strings.ToLower(sig.RecordSHA256) != sig.RecordSHA256:
		return trialgate.Errorf(trialgate.EInvalid, "malformed signature: record_sha256 must be %d lower-case hex digits", 2*sha256.Size)
	}
	if _, err := hex.DecodeString(sig.RecordSHA256); err != nil {
		return trialgate.Errorf(trialgate.EInvalid, "malformed signature: record_sha256 is not hex")
	}
	if _, err := time.Parse(audit.TimeFormat, sig.Time); err != nil {
		return trialgate.Errorf(trialgate.EInvalid, "malformed signature: time %q is not in the audit time format", sig.Time)
	}
	if subtle.ConstantTimeCompare([]byte(recordHash(record)), []byte(sig.RecordSHA256)) != 1 {
		return trialgate.Wrap(ErrSignatureMismatch, trialgate.EConflict,
			"the record does not match its signature: it changed after it was signed")
	}
	return nil
}
