package auth_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

func TestSignAndVerify(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		carol := e.create(t, "carol", auth.Grant{Role: auth.Reader, Trial: "T1"})
		_, p := e.login(t, "carol", auth.Client{IP: "192.0.2.60"})
		rec := []byte(`{"lesions":3,"response":"PR","task":"rt_1"}`)

		sig, err := e.svc.Sign(ctx, p, password, auth.MeaningAuthorship, rec)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(rec)
		want := audit.Signature{Signer: carol.ID, Name: "Test Carol", Meaning: "authorship",
			Time: e.clock.Now().UTC().Format(audit.TimeFormat), RecordSHA256: hex.EncodeToString(sum[:])}
		if sig != want {
			t.Fatalf("signature %+v, want %+v", sig, want)
		}
		if err := auth.VerifySignature(sig, rec); err != nil {
			t.Fatalf("verify: %v", err)
		}
		changed := []byte(strings.Replace(string(rec), "PR", "CR", 1))
		err = auth.VerifySignature(sig, changed)
		if !errors.Is(err, auth.ErrSignatureMismatch) || trialgate.ErrorCode(err) != trialgate.EConflict {
			t.Fatalf("verify changed record: %v", err)
		}

		// Malformed signatures are reported as such, not as mismatches.
		for name, mod := range map[string]func(*audit.Signature){
			"no signer":    func(s *audit.Signature) { s.Signer = "" },
			"no name":      func(s *audit.Signature) { s.Name = "" },
			"meaning":      func(s *audit.Signature) { s.Meaning = "agree" },
			"short hash":   func(s *audit.Signature) { s.RecordSHA256 = s.RecordSHA256[:10] },
			"upper hash":   func(s *audit.Signature) { s.RecordSHA256 = strings.ToUpper(s.RecordSHA256) },
			"non-hex hash": func(s *audit.Signature) { s.RecordSHA256 = strings.Repeat("zz", 32) },
			"time":         func(s *audit.Signature) { s.Time = "yesterday" },
		} {
			s := sig
			mod(&s)
			if err := auth.VerifySignature(s, rec); trialgate.ErrorCode(err) != trialgate.EInvalid {
				t.Errorf("%s: %v", name, err)
			}
		}

		_, err = e.svc.Sign(ctx, p, password, "agree", rec)
		wantErr(t, err, trialgate.EInvalid, "unknown signature meaning")
		_, err = e.svc.Sign(ctx, p, password, auth.MeaningReview, nil)
		wantErr(t, err, trialgate.EInvalid, "the record is empty")

		// A wrong password is refused and recorded, with the principal's
		// session and address.
		_, err = e.svc.Sign(ctx, p, "not my password", auth.MeaningApproval, rec)
		wantErr(t, err, trialgate.EUnauthorized, "signature refused: wrong password")
		failed := e.system(t, audit.ActionSignFailed)
		if len(failed) != 1 || failed[0].Outcome != audit.Failed || failed[0].Actor.ID != carol.ID ||
			failed[0].Actor.Session != p.SessionID || failed[0].Actor.IP != "192.0.2.60" ||
			fields(t, failed[0].After)["meaning"] != "approval" || fields(t, failed[0].After)["record_sha256"] != want.RecordSHA256 {
			t.Fatalf("esign.failed entries %+v", failed)
		}
		// The next correct signature clears that failure, recorded.
		if _, err := e.svc.Sign(ctx, p, password, auth.MeaningApproval, rec); err != nil {
			t.Fatal(err)
		}
		reset := e.system(t, audit.ActionFailuresReset)
		if len(reset) != 1 || fields(t, reset[0].Before)["failed_attempts"] != 1.0 {
			t.Fatalf("failures_reset entries %+v", reset)
		}
	})
}

// The signed record changes in the database behind the gateway's back, and
// verification against the signature recorded in the trail catches it.
func TestSignatureDetectsChangedRecord(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		if _, err := e.raw.ExecContext(ctx, `CREATE TABLE signed_doc (id text PRIMARY KEY, body text NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		e.create(t, "dave", auth.Grant{Role: auth.Reader, Trial: "T1"})
		_, p := e.login(t, "dave", auth.Client{})
		body := `{"result":"stable disease","task":"rt_7"}`
		sig, err := e.svc.Sign(ctx, p, password, auth.MeaningAuthorship, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		// The caller records the signature with the signed change.
		err = e.db.Write(ctx, p.Actor(auth.Reader), db.TrialScope("T1"), func(tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO signed_doc (id, body) VALUES ($1, $2)`, "rt_7", body); err != nil {
				return err
			}
			// A stand-in action: the signed domain actions (read.signed...)
			// belong to packages not written yet.
			return tx.Audit(audit.Event{Action: audit.ActionAuditVerified, Object: audit.Object{Type: "doc", ID: "rt_7"},
				Signature: &sig})
		})
		if err != nil {
			t.Fatal(err)
		}
		check := func() error {
			t.Helper()
			var stored string
			if err := e.raw.QueryRowContext(ctx, `SELECT body FROM signed_doc WHERE id = 'rt_7'`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			var recorded *audit.Signature
			for _, r := range e.trail(t) {
				if r.Object.String() == "doc/rt_7" {
					recorded = r.Signature
				}
			}
			if recorded == nil {
				t.Fatal("no signature in the trail")
			}
			return auth.VerifySignature(*recorded, []byte(stored))
		}
		if err := check(); err != nil {
			t.Fatalf("before the change: %v", err)
		}
		if _, err := e.raw.ExecContext(ctx, `UPDATE signed_doc SET body = $1 WHERE id = 'rt_7'`,
			`{"result":"progressive disease","task":"rt_7"}`); err != nil {
			t.Fatal(err)
		}
		if err := check(); !errors.Is(err, auth.ErrSignatureMismatch) {
			t.Fatalf("after the change: %v", err)
		}
	})
}

// Wrong signing passwords count toward lockout exactly like failed logins.
func TestFailedSigningCountsTowardLockout(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "erin")
		_, p := e.login(t, "erin", auth.Client{IP: "192.0.2.70"})
		rec := []byte("record")
		for range 3 {
			_, err := e.svc.Login(ctx, "erin", "bad guess at login", auth.Client{})
			wantErr(t, err, trialgate.EUnauthorized, "")
		}
		_, err := e.svc.Sign(ctx, p, "bad guess at signing", auth.MeaningReview, rec)
		wantErr(t, err, trialgate.EUnauthorized, "signature refused: wrong password")
		_, err = e.svc.Sign(ctx, p, "bad guess at signing", auth.MeaningReview, rec)
		wantErr(t, err, trialgate.EUnauthorized, "the account is now locked")

		locks := e.system(t, audit.ActionLockedOut)
		if len(locks) != 1 || locks[0].Actor.ID != p.User.ID {
			t.Fatalf("locked_out entries %+v", locks)
		}
		// Locked at signing, locked at login: the right password says so.
		_, err = e.svc.Login(ctx, "erin", password, auth.Client{})
		wantErr(t, err, trialgate.ELocked, "account locked until")
		_, err = e.svc.Sign(ctx, p, password, auth.MeaningReview, rec)
		wantErr(t, err, trialgate.EUnauthorized, "the account is locked")
		denied := e.system(t, audit.ActionSignFailed)
		if len(denied) != 3 || denied[2].Outcome != audit.Denied || denied[2].Reason != "account locked" {
			t.Fatalf("esign.failed entries %+v", denied)
		}

		e.clock.Advance(15 * time.Minute)
		if _, err := e.svc.Sign(ctx, p, password, auth.MeaningReview, rec); err != nil {
			t.Fatalf("sign after the lockout period: %v", err)
		}

		// A deactivated account cannot sign, even within a live principal.
		if err := e.svc.Deactivate(ctx, admin, "erin"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Sign(ctx, p, password, auth.MeaningReview, rec)
		wantErr(t, err, trialgate.EUnauthorized, "the account is inactive")
	})
}
