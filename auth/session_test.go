package auth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

// fields decodes an entry's before or after.
func fields(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, ok := v.(json.RawMessage)
	if !ok {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLogin(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		alice := e.create(t, "alice", auth.Grant{Role: auth.Reader, Trial: "T1"})
		erin := e.create(t, "erin")
		if err := e.svc.Deactivate(ctx, admin, "erin"); err != nil {
			t.Fatal(err)
		}
		c := auth.Client{IP: "192.0.2.10", UserAgent: "authtest/1"}

		s, err := e.svc.Login(ctx, "alice", password, c)
		if err != nil {
			t.Fatal(err)
		}
		if s.User.ID != alice.ID || s.ID == "" || !s.ExpiresAt.Equal(e.clock.Now().Add(8*time.Hour)) {
			t.Fatalf("session %+v", s)
		}
		if len(s.Token) != 43 || strings.ContainsAny(string(s.Token), "+/=") {
			t.Fatalf("token %q is not 256 bits of base64url", string(s.Token))
		}
		p, err := e.svc.Authenticate(ctx, string(s.Token), c)
		if err != nil {
			t.Fatal(err)
		}
		if p.User.ID != alice.ID || p.User.Username != "alice" || p.User.FullName != "Test Alice" ||
			p.SessionID != s.ID || len(p.Grants) != 1 || p.Grants[0] != (auth.Grant{Role: auth.Reader, Trial: "T1"}) {
			t.Fatalf("principal %+v", p)
		}
		// Usernames are looked up lower-cased and trimmed.
		if _, err := e.svc.Login(ctx, " ALICE ", password, c); err != nil {
			t.Fatalf("login as ALICE: %v", err)
		}

		// Every refusal looks the same from outside.
		refusals := []struct {
			name, username, password string
			outcome                  audit.Outcome
			reason                   string
		}{
			{"wrong password", "alice", "not the password", audit.Failed, "wrong password"},
			{"unknown user", "mallory", password, audit.Failed, "unknown username"},
			{"malformed username", "Robert'); DROP TABLE users;--", password, audit.Failed, "unknown username"},
			{"inactive account", "erin", password, audit.Denied, "account inactive"},
			{"empty password", "alice", "", audit.Failed, "wrong password"},
		}
		for _, tc := range refusals {
			_, err := e.svc.Login(ctx, tc.username, tc.password, c)
			wantErr(t, err, trialgate.EUnauthorized, "")
			if msg := trialgate.ErrorMessage(err); msg != "invalid username or password" {
				t.Errorf("%s: public message %q", tc.name, msg)
			}
		}

		logins := e.system(t, audit.ActionLogin)
		if len(logins) != 2+len(refusals) {
			t.Fatalf("login entries = %d, want %d", len(logins), 2+len(refusals))
		}
		for i, r := range logins[:2] {
			if r.Outcome != audit.Success || r.Actor.ID != alice.ID || r.Actor.Session == "" ||
				r.Actor.IP != c.IP || r.Actor.UserAgent != c.UserAgent || r.Object.String() != "user/"+alice.ID {
				t.Errorf("success entry %d: %+v", i, r.Entry)
			}
		}
		if logins[0].Actor.Session != s.ID {
			t.Errorf("login entry session %q, want %q", logins[0].Actor.Session, s.ID)
		}
		for i, tc := range refusals {
			r := logins[2+i]
			if r.Outcome != tc.outcome || r.Reason != tc.reason || r.Actor.ID != auth.Anonymous ||
				r.Actor.IP != c.IP || r.Actor.UserAgent != c.UserAgent {
				t.Errorf("%s: entry %+v", tc.name, r.Entry)
			}
			after := fields(t, r.After)
			switch tc.name {
			case "malformed username":
				if after["username_malformed"] != true || after["username"] != nil {
					t.Errorf("%s: after %v", tc.name, after)
				}
			default:
				if after["username"] != strings.ToLower(tc.username) {
					t.Errorf("%s: after %v", tc.name, after)
				}
			}
		}
		if logins[2+3].Object.String() != "user/"+erin.ID {
			t.Errorf("inactive: object %v", logins[5].Object)
		}
	})
}

func TestLockout(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		alice := e.create(t, "alice")
		c := auth.Client{IP: "198.51.100.7", UserAgent: "lockout-test"}
		start := e.clock.Now()

		for i := range 5 {
			_, err := e.svc.Login(ctx, "alice", fmt.Sprintf("wrong password %d", i), c)
			wantErr(t, err, trialgate.EUnauthorized, "invalid username or password")
			e.clock.Advance(time.Second)
		}
		// The sixth attempt, with the right password, is refused as locked,
		// saying until when and how to unlock.
		until := start.Add(4*time.Second + 15*time.Minute)
		_, err := e.svc.Login(ctx, "alice", password, c)
		wantErr(t, err, trialgate.ELocked, "")
		wantMsg := "account locked until " + until.Format(time.RFC3339) + " after 5 failed password attempts; " +
			"an administrator can unlock it with `gateway user unlock --username alice` or " +
			`PATCH /api/v1/users/alice {"unlock": true}`
		if msg := trialgate.ErrorMessage(err); msg != wantMsg {
			t.Errorf("locked message\n%s\nwant\n%s", msg, wantMsg)
		}
		var le *auth.LockedError
		if !errors.As(err, &le) || !le.Until.Equal(until) || le.Failures != 5 || le.Username != "alice" {
			t.Fatalf("cause %+v, want a LockedError until %v", le, until)
		}
		if d := le.ErrorDetails(); d["locked_until"] != until.Format(time.RFC3339) || d["failed_attempts"] != 5 {
			t.Errorf("details %v", d)
		}

		logins := e.system(t, audit.ActionLogin)
		if len(logins) != 6 {
			t.Fatalf("login entries = %d, want 6", len(logins))
		}
		for i, r := range logins {
			want := audit.Failed
			if i == 5 {
				want = audit.Denied
			}
			if r.Outcome != want || r.Actor.IP != c.IP || r.Actor.UserAgent != c.UserAgent ||
				r.Object.String() != "user/"+alice.ID || fields(t, r.After)["username"] != "alice" {
				t.Errorf("attempt %d: %+v, want outcome %s from %s", i+1, r.Entry, want, c.IP)
			}
		}
		if logins[5].Reason != "account locked" {
			t.Errorf("sixth attempt reason %q", logins[5].Reason)
		}
		locks := e.system(t, audit.ActionLockedOut)
		if len(locks) != 1 || locks[0].Object.String() != "user/"+alice.ID ||
			fields(t, locks[0].After)["locked_until"] != until.Format(audit.TimeFormat) {
			t.Fatalf("locked_out entries %+v", locks)
		}
		// The lock and the attempt that caused it are recorded together.
		if !locks[0].Time.Equal(logins[4].Time) {
			t.Errorf("lock at %v, fifth attempt at %v", locks[0].Time, logins[4].Time)
		}
		a, err := e.svc.GetUser(ctx, "alice")
		if err != nil || !a.LockedUntil.Equal(until) {
			t.Fatalf("GetUser: locked until %v (%v), want %v", a.LockedUntil, err, until)
		}

		// A wrong password on the locked account is answered as any wrong
		// password, and neither counts nor extends the lock.
		_, err = e.svc.Login(ctx, "alice", "still guessing", c)
		wantErr(t, err, trialgate.EUnauthorized, "invalid username or password")
		if errors.As(err, &le) {
			t.Error("a wrong password learned of the lock")
		}
		logins = e.system(t, audit.ActionLogin)
		if r := logins[len(logins)-1]; r.Outcome != audit.Denied || r.Reason != "account locked; wrong password" {
			t.Errorf("wrong password on a locked account: %+v", r.Entry)
		}

		// Still locked a second before the end; attempts do not extend it.
		e.clock.Advance(until.Sub(e.clock.Now()) - time.Second)
		_, err = e.svc.Login(ctx, "alice", password, c)
		wantErr(t, err, trialgate.ELocked, "account locked until "+until.Format(time.RFC3339))
		e.clock.Advance(time.Second)
		if _, err := e.svc.Login(ctx, "alice", password, c); err != nil {
			t.Fatalf("login after the lockout period: %v", err)
		}

		// The right password reset the count: four more failures do not lock.
		for range 4 {
			_, err := e.svc.Login(ctx, "alice", "wrong again", c)
			wantErr(t, err, trialgate.EUnauthorized, "")
		}
		if _, err := e.svc.Login(ctx, "alice", password, c); err != nil {
			t.Fatalf("login after 4 failures: %v", err)
		}
		if n := len(e.system(t, audit.ActionLockedOut)); n != 1 {
			t.Fatalf("locked_out entries = %d, want 1", n)
		}
	})
}

// After a lock runs out, the account starts a fresh count.
func TestLockoutFreshCountAfterExpiry(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		for range 5 {
			e.svc.Login(ctx, "alice", "wrong password!", auth.Client{})
		}
		e.clock.Advance(15 * time.Minute)
		for range 4 {
			_, err := e.svc.Login(ctx, "alice", "wrong password!", auth.Client{})
			wantErr(t, err, trialgate.EUnauthorized, "")
		}
		if _, err := e.svc.Login(ctx, "alice", password, auth.Client{}); err != nil {
			t.Fatalf("4 failures after an expired lock locked again: %v", err)
		}
	})
}

// Concurrent wrong passwords lock the account exactly once, after exactly
// the threshold.
func TestLockoutConcurrent(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				_, err := e.svc.Login(ctx, "alice", fmt.Sprintf("guess %d", i), auth.Client{IP: "203.0.113.9"})
				if !isCode(err, trialgate.EUnauthorized) {
					t.Errorf("guess %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		count := map[audit.Outcome]int{}
		for _, r := range e.system(t, audit.ActionLogin) {
			count[r.Outcome]++
		}
		if count[audit.Failed] != 5 || count[audit.Denied] != 7 {
			t.Errorf("outcomes %v, want 5 failed and 7 denied", count)
		}
		if n := len(e.system(t, audit.ActionLockedOut)); n != 1 {
			t.Errorf("locked_out entries = %d, want 1", n)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		c := auth.Client{IP: "192.0.2.20"}

		// Absolute: used every 20 minutes, the session still ends at 8h.
		s, _ := e.login(t, "alice", c)
		for i := 1; ; i++ {
			e.clock.Advance(20 * time.Minute)
			_, err := e.svc.Authenticate(ctx, string(s.Token), c)
			if i < 24 {
				if err != nil {
					t.Fatalf("after %v: %v", time.Duration(i)*20*time.Minute, err)
				}
				continue
			}
			wantErr(t, err, trialgate.EUnauthorized, "session expired")
			break
		}
		_, err := e.svc.Authenticate(ctx, string(s.Token), c)
		wantErr(t, err, trialgate.EUnauthorized, "invalid or expired session")

		// Idle: 29 minutes apart is fine, 30 minutes is not.
		s, _ = e.login(t, "alice", c)
		for range 2 {
			e.clock.Advance(29 * time.Minute)
			if _, err := e.svc.Authenticate(ctx, string(s.Token), c); err != nil {
				t.Fatalf("after 29 idle minutes: %v", err)
			}
		}
		e.clock.Advance(30 * time.Minute)
		_, err = e.svc.Authenticate(ctx, string(s.Token), c)
		wantErr(t, err, trialgate.EUnauthorized, "session expired")
		_, err = e.svc.Authenticate(ctx, string(s.Token), c)
		wantErr(t, err, trialgate.EUnauthorized, "invalid or expired session")

		// Each expiry is recorded once, by the request that found it.
		exp := e.system(t, audit.ActionTokenExpired)
		if len(exp) != 2 {
			t.Fatalf("token_expired entries = %d, want 2", len(exp))
		}
		if !strings.Contains(exp[0].Reason, "absolute") || !strings.Contains(exp[1].Reason, "idle") {
			t.Errorf("reasons %q, %q", exp[0].Reason, exp[1].Reason)
		}
		if exp[1].Object.String() != "session/"+s.ID || exp[1].Actor.Session != s.ID || exp[1].Outcome != audit.Denied {
			t.Errorf("idle expiry entry %+v", exp[1].Entry)
		}
	})
}

// Requests do not each write: last use is marked at most once a minute,
// and never audited.
func TestActivityIsCoarse(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		s, _ := e.login(t, "alice", auth.Client{})
		before := len(e.trail(t))
		for range 50 {
			e.clock.Advance(time.Second)
			if _, err := e.svc.Authenticate(ctx, string(s.Token), auth.Client{}); err != nil {
				t.Fatal(err)
			}
		}
		if after := len(e.trail(t)); after != before {
			t.Errorf("authenticating wrote %d audit entries", after-before)
		}
		marked := func() time.Time {
			t.Helper()
			var at int64
			err := e.raw.QueryRow(`SELECT coalesce(max(at_us), 0) FROM activity WHERE key = $1`, "session/"+s.ID).Scan(&at)
			if err != nil {
				t.Fatal(err)
			}
			return time.UnixMicro(at).UTC()
		}
		// Within the first minute of the session nothing is marked...
		if at := marked(); at.UnixMicro() != 0 {
			t.Fatalf("activity marked at %v within the first minute", at)
		}
		// ...then the first request a minute or more after the last mark
		// marks, and the next minute's requests do not.
		e.clock.Advance(10 * time.Second)
		if _, err := e.svc.Authenticate(ctx, string(s.Token), auth.Client{}); err != nil {
			t.Fatal(err)
		}
		first := e.clock.Now()
		for range 59 {
			e.clock.Advance(time.Second)
			if _, err := e.svc.Authenticate(ctx, string(s.Token), auth.Client{}); err != nil {
				t.Fatal(err)
			}
		}
		if at := marked(); !at.Equal(first) {
			t.Fatalf("activity marked at %v, want %v", at, first)
		}
		e.clock.Advance(time.Second)
		if _, err := e.svc.Authenticate(ctx, string(s.Token), auth.Client{}); err != nil {
			t.Fatal(err)
		}
		if at := marked(); !at.Equal(e.clock.Now()) {
			t.Fatalf("activity marked at %v, want %v", at, e.clock.Now())
		}
	})
}

func TestAuthenticateRefusesBadTokens(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		s, _ := e.login(t, "alice", auth.Client{})
		tok := string(s.Token)
		for _, bad := range []string{"", "bogus", tok[:42], tok + "A", strings.Repeat("A", 43),
			strings.Repeat("*", 43), "Bearer " + tok, strings.ToUpper(tok)} {
			_, err := e.svc.Authenticate(ctx, bad, auth.Client{})
			wantErr(t, err, trialgate.EUnauthorized, "invalid or expired session")
		}
	})
}

func TestDeactivatedUserTokenRefused(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		bob := e.create(t, "bob")
		c := auth.Client{IP: "192.0.2.30"}
		s1, _ := e.login(t, "bob", c)
		s2, _ := e.login(t, "bob", c)
		if err := e.svc.Deactivate(ctx, admin, "bob"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []auth.Session{s1, s2} {
			_, err := e.svc.Authenticate(ctx, string(s.Token), c)
			wantErr(t, err, trialgate.EUnauthorized, "invalid or expired session")
		}
		_, err := e.svc.Login(ctx, "bob", password, c)
		wantErr(t, err, trialgate.EUnauthorized, "invalid username or password")

		revoked := e.system(t, audit.ActionSessionRevoked)
		if len(revoked) != 2 || revoked[0].Actor.ID != admin.ID {
			t.Fatalf("session_revoked entries %+v", revoked)
		}
		deact := e.system(t, audit.ActionUserDeactivated)
		if len(deact) != 1 || deact[0].Object.String() != "user/"+bob.ID ||
			fields(t, deact[0].Before)["active"] != true || fields(t, deact[0].After)["active"] != false {
			t.Fatalf("user.deactivated entries %+v", deact)
		}

		// Reactivation does not revive old sessions; a new login works.
		if err := e.svc.Activate(ctx, admin, "bob"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Authenticate(ctx, string(s1.Token), c)
		wantErr(t, err, trialgate.EUnauthorized, "")
		e.login(t, "bob", c)
	})
}

func TestLogout(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		c := auth.Client{IP: "192.0.2.40", UserAgent: "ua"}
		s, p := e.login(t, "alice", c)
		if err := e.svc.Logout(ctx, p); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Authenticate(ctx, string(s.Token), c)
		wantErr(t, err, trialgate.EUnauthorized, "")
		wantErr(t, e.svc.Logout(ctx, p), trialgate.EUnauthorized, "already ended")
		out := e.system(t, audit.ActionLogout)
		if len(out) != 1 || out[0].Object.String() != "session/"+s.ID || out[0].Actor.Session != s.ID ||
			out[0].Actor.IP != c.IP {
			t.Fatalf("logout entries %+v", out)
		}
	})
}

// Changing the argon2 parameters rehashes a password at its next login.
func TestRehashOnLogin(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		cfg := e.cfg
		cfg.Argon2 = auth.Argon2Params{Memory: 128, Time: 2, Threads: 1}
		svc := auth.New(e.db, cfg)
		if _, err := svc.Login(ctx, "alice", password, auth.Client{}); err != nil {
			t.Fatal(err)
		}
		var hash string
		if err := e.raw.QueryRow(`SELECT password_hash FROM users WHERE username = 'alice'`).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=128,t=2,p=1$") {
			t.Fatalf("hash %q not rehashed", hash)
		}
		if _, err := svc.Login(ctx, "alice", password, auth.Client{}); err != nil {
			t.Fatalf("login after rehash: %v", err)
		}
		logins := e.system(t, audit.ActionLogin)
		if fields(t, logins[0].After)["password_rehashed"] != true || fields(t, logins[1].After)["password_rehashed"] != nil {
			t.Errorf("rehash not recorded once: %v / %v", logins[0].After, logins[1].After)
		}
	})
}

func TestTokenRedacted(t *testing.T) {
	tok := auth.Token("c2VjcmV0LXRva2VuLXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw")
	s := auth.Session{ID: "s_1", Token: tok}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("login", "token", tok, "session", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, tok, tok), b.String()} {
		if strings.Contains(out, string(tok)) {
			t.Errorf("token leaked: %s", out)
		}
	}
	j, _ := json.Marshal(map[string]any{"token": tok})
	if !strings.Contains(string(j), string(tok)) {
		t.Errorf("JSON %s lacks the token", j)
	}
}
