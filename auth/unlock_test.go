package auth_test

import (
	"slices"
	"testing"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

// An administrator's unlock lifts a lock before it runs out, clears the
// failure count and is recorded; it refuses an account that is not
// locked, an unknown one, and the administrator's own.
func TestUnlock(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		alice := e.create(t, "alice")
		root := e.create(t, "root", auth.Grant{Role: auth.Admin})
		_, rootP := e.login(t, "root", auth.Client{})
		by := rootP.Actor(auth.Admin)

		wantErr(t, e.svc.Unlock(ctx, by, "alice"), trialgate.EConflict, `user "alice" is not locked`)
		wantErr(t, e.svc.Unlock(ctx, by, "nobody"), trialgate.ENotFound, "")
		wantErr(t, e.svc.Unlock(ctx, by, "no\x00body"), trialgate.ENotFound, "")
		for range e.cfg.LockoutThreshold {
			e.svc.Login(ctx, "alice", "not the password", auth.Client{})
		}
		until := e.clock.Now().Add(e.cfg.LockoutDuration)
		_, err := e.svc.Login(ctx, "alice", password, auth.Client{})
		wantErr(t, err, trialgate.ELocked, "")

		e.clock.Advance(time.Minute)
		if err := e.svc.Unlock(ctx, by, "ALICE"); err != nil {
			t.Fatalf("unlock: %v", err)
		}
		if a, err := e.svc.GetUser(ctx, "alice"); err != nil || !a.LockedUntil.IsZero() {
			t.Fatalf("after unlock: locked until %v, %v", a.LockedUntil, err)
		}
		if _, err := e.svc.Login(ctx, "alice", password, auth.Client{}); err != nil {
			t.Fatalf("login after unlock: %v", err)
		}
		wantErr(t, e.svc.Unlock(ctx, by, "alice"), trialgate.EConflict, "not locked")

		var unlocks []record
		for _, r := range e.system(t, audit.ActionUserUnlocked) {
			if r.Reason == "unlocked by an administrator" {
				unlocks = append(unlocks, r)
			}
		}
		if len(unlocks) != 1 {
			t.Fatalf("unlock entries = %d, want 1", len(unlocks))
		}
		u := unlocks[0]
		before, after := fields(t, u.Before), fields(t, u.After)
		if u.Actor.ID != root.ID || u.Object.String() != "user/"+alice.ID || u.Outcome != audit.Success ||
			before["locked_until"] != until.Format(audit.TimeFormat) || before["failed_attempts"] != float64(e.cfg.LockoutThreshold) ||
			after["failed_attempts"] != float64(0) || after["locked_until"] != nil {
			t.Errorf("unlock entry %+v before %v after %v", u.Entry, before, after)
		}

		// An administrator cannot unlock their own account.
		for range e.cfg.LockoutThreshold {
			e.svc.Login(ctx, "root", "not the password", auth.Client{})
		}
		wantErr(t, e.svc.Unlock(ctx, by, "root"), trialgate.EForbidden, "your own account")
	})
}

// A login's answer takes as long whether the username is unknown, the
// password wrong, or the account locked: each verifies one password hash,
// which dominates. The bound is loose (a loaded machine is noisy); what it
// catches is a path that skips the hash, which would be an order of
// magnitude faster.
func TestLoginTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	backendsWith(t, func(c *auth.Config) {
		c.Argon2 = auth.Argon2Params{Memory: 16 << 10, Time: 2, Threads: 1}
		c.LockoutThreshold = 3
	}, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "alice")
		e.create(t, "lucy")
		for range 3 {
			e.svc.Login(ctx, "lucy", "not the password", auth.Client{})
		}
		// Round robin, so that noise (the other backend's run, say) falls
		// on every case alike.
		cases := []struct{ name, username, pw string }{
			{"wrong password", "alice", "not the password"},
			{"unknown username", "mallory", "not the password"},
			{"locked, wrong password", "lucy", "not the password"},
			{"locked, right password", "lucy", password},
		}
		took := make([][]time.Duration, len(cases))
		for range 9 {
			for i, c := range cases {
				start := time.Now()
				e.svc.Login(ctx, c.username, c.pw, auth.Client{})
				took[i] = append(took[i], time.Since(start))
			}
			// Reset alice's count, so that she never locks.
			if _, err := e.svc.Login(ctx, "alice", password, auth.Client{}); err != nil {
				t.Fatal(err)
			}
		}
		median := func(ds []time.Duration) time.Duration {
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		wrong := median(took[0])
		for i, c := range cases[1:] {
			d := median(took[i+1])
			t.Logf("%s: %v (wrong password: %v)", c.name, d, wrong)
			if d < wrong/3 || d > wrong*3 {
				t.Errorf("%s: %v, wrong password: %v", c.name, d, wrong)
			}
		}
	})
}
