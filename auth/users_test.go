package auth_test

import (
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

func TestCreateUser(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "taken")
		ok := func(mod func(*auth.NewUser)) auth.NewUser {
			nu := auth.NewUser{Username: "newbie", FullName: "New Bie", Password: password,
				Grants: []auth.Grant{{Role: auth.SiteUploader, Trial: "T1", Site: "S1"}}}
			if mod != nil {
				mod(&nu)
			}
			return nu
		}
		tests := []struct {
			name string
			nu   auth.NewUser
			code string
			msg  string
		}{
			{"duplicate", ok(func(n *auth.NewUser) { n.Username = "taken" }), trialgate.EConflict, `username "taken" is already taken`},
			{"short username", ok(func(n *auth.NewUser) { n.Username = "ab" }), trialgate.EInvalid, "username must be 3 to 64 characters long"},
			{"long username", ok(func(n *auth.NewUser) { n.Username = strings.Repeat("a", 65) }), trialgate.EInvalid, "username must be 3 to 64 characters long"},
			{"empty username", ok(func(n *auth.NewUser) { n.Username = "" }), trialgate.EInvalid, "username must be 3 to 64"},
			{"upper-case username", ok(func(n *auth.NewUser) { n.Username = "Newbie" }), trialgate.EInvalid, "username must be lower-case"},
			{"space in username", ok(func(n *auth.NewUser) { n.Username = "new bie" }), trialgate.EInvalid, "username may contain only a-z, 0-9"},
			{"slash in username", ok(func(n *auth.NewUser) { n.Username = "new/bie" }), trialgate.EInvalid, "username may contain only"},
			{"non-ASCII username", ok(func(n *auth.NewUser) { n.Username = "josé" }), trialgate.EInvalid, "username may contain only"},
			{"no full name", ok(func(n *auth.NewUser) { n.FullName = "  " }), trialgate.EInvalid, "full name is required"},
			{"padded full name", ok(func(n *auth.NewUser) { n.FullName = " New Bie" }), trialgate.EInvalid, "white space"},
			{"control in full name", ok(func(n *auth.NewUser) { n.FullName = "New\nBie" }), trialgate.EInvalid, "control characters"},
			{"short password", ok(func(n *auth.NewUser) { n.Password = "elevenchars" }), trialgate.EInvalid, "password must be at least 12 characters long"},
			{"password is username", ok(func(n *auth.NewUser) { n.Username = "longusername1"; n.Password = "LONGUSERNAME1" }), trialgate.EInvalid, "password must not be the username"},
			{"password contains username", ok(func(n *auth.NewUser) { n.Password = "my-NEWBIE-password" }), trialgate.EInvalid, "password must not contain the username"},
			{"huge password", ok(func(n *auth.NewUser) { n.Password = strings.Repeat("x", 1025) }), trialgate.EInvalid, "password must be at most 1024 bytes long"},
			{"unknown role", ok(func(n *auth.NewUser) { n.Grants = []auth.Grant{{Role: "superuser"}} }), trialgate.EInvalid, `unknown role "superuser"`},
			{"bad grant scope", ok(func(n *auth.NewUser) { n.Grants = []auth.Grant{{Role: auth.Reader}} }), trialgate.EInvalid, "role reader needs a trial"},
			{"grant twice", ok(func(n *auth.NewUser) { n.Grants = append(n.Grants, n.Grants[0]) }), trialgate.EInvalid, "grant site_uploader:T1:S1 is listed twice"},
			{"ok", ok(nil), "", ""},
			{"12 characters of any script", ok(func(n *auth.NewUser) { n.Username = "zoe"; n.Password = "пароль-пароль" }), "", ""},
		}
		for _, tc := range tests {
			u, err := e.svc.CreateUser(ctx, admin, tc.nu)
			if tc.code == "" {
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
				} else if !strings.HasPrefix(u.ID, "u_") || !u.Active || u.Username != tc.nu.Username {
					t.Errorf("%s: user %+v", tc.name, u)
				}
				continue
			}
			if trialgate.ErrorCode(err) != tc.code || !strings.Contains(trialgate.ErrorMessage(err), tc.msg) {
				t.Errorf("%s: got %q %q, want %q containing %q", tc.name, trialgate.ErrorCode(err), trialgate.ErrorMessage(err), tc.code, tc.msg)
			}
		}
		// Only the successful creations are in the trail.
		created := e.system(t, audit.ActionUserCreated)
		if len(created) != 3 {
			t.Fatalf("user.created entries = %d, want 3", len(created))
		}
		r := created[1]
		after := fields(t, r.After)
		grants, _ := after["grants"].([]any)
		if r.Actor.ID != admin.ID || after["username"] != "newbie" || after["full_name"] != "New Bie" ||
			after["active"] != true || len(grants) != 1 {
			t.Fatalf("user.created entry %+v after %v", r.Entry, after)
		}
		if g := grants[0].(map[string]any); g["role"] != "site_uploader" || g["trial"] != "T1" || g["site"] != "S1" {
			t.Errorf("grant in entry: %v", g)
		}
		for k := range after {
			if strings.Contains(k, "password") || strings.Contains(k, "hash") {
				t.Errorf("user.created records %q", k)
			}
		}
	})
}

func TestGrants(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		bob := e.create(t, "bob")
		boss := e.create(t, "boss", auth.Grant{Role: auth.Admin})
		_, bossP := e.login(t, "boss", auth.Client{IP: "192.0.2.50"})
		by := bossP.Actor(auth.Admin)
		reader := auth.Grant{Role: auth.Reader, Trial: "T1"}

		if err := e.svc.AddGrant(ctx, by, "bob", reader); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.AddGrant(ctx, by, "bob", reader), trialgate.EConflict, "already holds reader:T1")
		wantErr(t, e.svc.AddGrant(ctx, by, "nobody", reader), trialgate.ENotFound, `no user "nobody"`)
		wantErr(t, e.svc.AddGrant(ctx, by, "bob", auth.Grant{Role: auth.Admin, Trial: "T1"}), trialgate.EInvalid, "system-wide")
		// Nobody changes their own account, not even an admin.
		wantErr(t, e.svc.AddGrant(ctx, by, "boss", reader), trialgate.EForbidden, "your own account")
		wantErr(t, e.svc.Deactivate(ctx, by, "boss"), trialgate.EForbidden, "your own account")

		// A live grant shows at once in the next request.
		_, p := e.login(t, "bob", auth.Client{})
		if !p.Has(auth.Reader, "T1", "") {
			t.Fatalf("grants %v", p.Grants)
		}
		a, err := e.svc.GetUser(ctx, "bob")
		if err != nil || len(a.Grants) != 1 || a.Grants[0].Grant != reader || a.Grants[0].GrantedBy != boss.ID ||
			!strings.HasPrefix(a.Grants[0].ID, "g_") {
			t.Fatalf("GetUser: %+v, %v", a, err)
		}

		if err := e.svc.RevokeGrant(ctx, by, "bob", reader); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.RevokeGrant(ctx, by, "bob", reader), trialgate.ENotFound, "holds no grant reader:T1")
		if p, err := e.svc.Authenticate(ctx, string(mustLogin(t, e, "bob").Token), auth.Client{}); err != nil || len(p.Grants) != 0 {
			t.Fatalf("after revoke: %+v, %v", p, err)
		}
		// Granting again is a new grant; the revoked row stays.
		if err := e.svc.AddGrant(ctx, by, "bob", reader); err != nil {
			t.Fatal(err)
		}
		var rows, revoked int
		if err := e.raw.QueryRow(`SELECT count(*), count(revoked_us) FROM grants WHERE user_id = $1`, bob.ID).Scan(&rows, &revoked); err != nil {
			t.Fatal(err)
		}
		if rows != 2 || revoked != 1 {
			t.Errorf("grant rows %d (revoked %d), want 2 (1)", rows, revoked)
		}

		added := e.system(t, audit.ActionUserGrantAdded)
		if len(added) != 2 || added[0].Actor.ID != boss.ID || added[0].Actor.Role != "admin" ||
			added[0].Object.String() != "user/"+bob.ID || fields(t, added[0].After)["trial"] != "T1" {
			t.Fatalf("grant_added entries %+v", added)
		}
		rev := e.system(t, audit.ActionUserGrantRevoke)
		if len(rev) != 1 || fields(t, rev[0].Before)["status"] != "live" || fields(t, rev[0].After)["status"] != "revoked" ||
			fields(t, rev[0].Before)["grant_id"] != fields(t, added[0].After)["grant_id"] {
			t.Fatalf("grant_revoked entries %+v", rev)
		}

		// Deactivate, activate, and the conflicts of doing either twice.
		if err := e.svc.Deactivate(ctx, by, "bob"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.Deactivate(ctx, by, "bob"), trialgate.EConflict, "already inactive")
		if err := e.svc.Activate(ctx, by, "bob"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.svc.Activate(ctx, by, "bob"), trialgate.EConflict, "already active")
		wantErr(t, e.svc.Deactivate(ctx, by, "nobody"), trialgate.ENotFound, "")
		if n := len(e.system(t, audit.ActionUserActivated)); n != 1 {
			t.Errorf("user.activated entries = %d", n)
		}

		_, err = e.svc.GetUser(ctx, "nobody")
		wantErr(t, err, trialgate.ENotFound, `no user "nobody"`)
		list, err := e.svc.ListUsers(ctx)
		if err != nil || len(list) != 2 || list[0].Username != "bob" || list[1].Username != "boss" ||
			len(list[0].Grants) != 1 || len(list[1].Grants) != 1 || list[1].Grants[0].Role != auth.Admin {
			t.Fatalf("ListUsers: %+v, %v", list, err)
		}
	})
}

func mustLogin(t *testing.T, e *env, username string) auth.Session {
	t.Helper()
	s, err := e.svc.Login(ctxT(t), username, password, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The database itself refuses to delete accounts or grants, to change a
// grant other than by revoking it, and (PostgreSQL) any unaudited change.
func TestRegulatedTables(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		e.create(t, "bob", auth.Grant{Role: auth.Reader, Trial: "T1"})
		e.login(t, "bob", auth.Client{})
		for _, q := range []string{
			`DELETE FROM users`,
			`DELETE FROM grants`,
			`UPDATE users SET username = 'robert'`,
			`UPDATE grants SET role = 'admin'`,
		} {
			if _, err := e.raw.ExecContext(ctx, q); err == nil {
				t.Errorf("%s: accepted", q)
			}
		}
		if e.backend != "postgres" {
			return
		}
		for _, q := range []string{
			`UPDATE users SET full_name = 'Someone Else'`,
			`UPDATE grants SET revoked_us = 1, revoked_by = 'x'`,
			`UPDATE sessions SET expires_us = expires_us + 1`,
		} {
			_, err := e.raw.ExecContext(ctx, q)
			if err == nil || !strings.Contains(err.Error(), "without an audit entry") {
				t.Errorf("%s without an audit entry: %v", q, err)
			}
		}
	})
}
