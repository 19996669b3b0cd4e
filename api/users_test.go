package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
)

// account is the JSON shape of an account in responses.
type account struct {
	ID        string
	Username  string
	FullName  string `json:"full_name"`
	Active    bool
	CreatedAt time.Time `json:"created_at"`
	Grants    []struct {
		ID        string
		Role      string
		Trial     string
		Site      string
		GrantedAt time.Time `json:"granted_at"`
		GrantedBy string    `json:"granted_by"`
	}
}

// grantStrings returns the account's grants as role[:trial[:site]].
func (a account) grantStrings() []string {
	var out []string
	for _, g := range a.Grants {
		out = append(out, auth.Grant{Role: auth.Role(g.Role), Trial: g.Trial, Site: g.Site}.String())
	}
	return out
}

// entriesAbout returns the trail entries with action about the user with id.
func entriesAbout(t *testing.T, g *gateway, action audit.Action, id string) []*audit.Entry {
	var out []*audit.Entry
	for _, e := range g.trail(t) {
		if e.entry.Action == action && e.entry.Object == (audit.Object{Type: "user", ID: id}) {
			out = append(out, e.entry)
		}
	}
	return out
}

// The account endpoints create, read and change accounts; every change is
// audited, refusals are audited, and the password never leaves the server.
func TestUsers(t *testing.T) {
	g := newGateway(t)
	adminID := g.addUser(t, "root", auth.Grant{Role: auth.Admin})
	admin := g.login(t, "root")
	// secret is the password of the account created over HTTP.
	const secret = "Quasar-zebra 9182 lantern"

	var created account
	t.Run("create", func(t *testing.T) {
		r := g.do(t, "POST", "/api/v1/users", admin, map[string]any{
			"username": "grace", "full_name": "Grace Hopper", "password": secret,
			"grants": []map[string]string{{"role": "reader", "trial": "T1"}, {"role": "site_uploader", "trial": "T1", "site": "S1"}},
		})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		r.decode(t, &created)
		if created.ID == "" || created.Username != "grace" || created.FullName != "Grace Hopper" || !created.Active {
			t.Errorf("created %+v", created)
		}
		if got, want := strings.Join(created.grantStrings(), " "), "reader:T1 site_uploader:T1:S1"; got != want {
			t.Errorf("grants %q, want %q", got, want)
		}
		for _, gr := range created.Grants {
			if gr.ID == "" || gr.GrantedBy != adminID || gr.GrantedAt.IsZero() {
				t.Errorf("grant record %+v, want id, granted_by %s and granted_at", gr, adminID)
			}
		}
		var fields map[string]any
		r.decode(t, &fields)
		for k := range fields {
			if strings.Contains(k, "password") || strings.Contains(k, "hash") {
				t.Errorf("response has field %q", k)
			}
		}
		if n := len(entriesAbout(t, g, audit.ActionUserCreated, created.ID)); n != 1 {
			t.Errorf("%d user.created entries, want 1", n)
		}
		if r := g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "grace", "password": secret}); r.status != http.StatusOK {
			t.Errorf("the new account cannot log in: %d %s", r.status, r.body)
		}
	})

	t.Run("read", func(t *testing.T) {
		var one account
		r := g.do(t, "GET", "/api/v1/users/grace", admin, nil)
		if r.status != http.StatusOK {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		r.decode(t, &one)
		if one.ID != created.ID || len(one.Grants) != 2 {
			t.Errorf("get %+v, want %+v", one, created)
		}
		var list struct{ Users []account }
		r = g.do(t, "GET", "/api/v1/users", admin, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r.decode(t, &list)
		var names []string
		for _, u := range list.Users {
			names = append(names, u.Username)
		}
		if got := strings.Join(names, " "); got != "grace root" {
			t.Errorf("list %q, want \"grace root\"", got)
		}
	})

	t.Run("refused", func(t *testing.T) {
		valid := func() map[string]any {
			return map[string]any{"username": "alan", "full_name": "Alan Turing", "password": "a long enough passphrase",
				"grants": []map[string]string{{"role": "reader", "trial": "T1"}}}
		}
		with := func(k string, v any) any {
			b := valid()
			b[k] = v
			return b
		}
		grants := func(gs ...map[string]string) any { return with("grants", gs) }
		cases := []struct {
			name   string
			body   any
			status int
			msg    string // a part of the error message
		}{
			{"duplicate", with("username", "grace"), http.StatusConflict, `username "grace" is already taken`},
			{"short password", with("password", "too short"), http.StatusBadRequest, "password must be at least 12 characters"},
			{"password has username", with("password", "alan-is-my-password"), http.StatusBadRequest, "password must not contain the username"},
			{"upper-case username", with("username", "Alan"), http.StatusBadRequest, "username must be lower-case"},
			{"short username", with("username", "al"), http.StatusBadRequest, "username must be 3 to 64 characters"},
			{"bad username", with("username", "alan turing"), http.StatusBadRequest, "username may contain only"},
			{"no full name", with("full_name", " "), http.StatusBadRequest, "full name is required"},
			{"unknown role", grants(map[string]string{"role": "superuser"}), http.StatusBadRequest, `unknown role "superuser"`},
			{"uploader without site", grants(map[string]string{"role": "site_uploader", "trial": "T1"}), http.StatusBadRequest, "role site_uploader needs a trial and a site"},
			{"reader of all trials", grants(map[string]string{"role": "reader", "trial": "*"}), http.StatusBadRequest, "role reader is granted per trial"},
			{"admin in a trial", grants(map[string]string{"role": "admin", "trial": "T1"}), http.StatusBadRequest, "role admin is system-wide"},
			{"grant twice", grants(map[string]string{"role": "reader", "trial": "T1"}, map[string]string{"role": "reader", "trial": "T1"}), http.StatusBadRequest, "grant reader:T1 is listed twice"},
			{"unknown grant field", grants(map[string]string{"role": "reader", "trial": "T1", "study": "x"}), http.StatusBadRequest, `unknown field "study"`},
			{"unknown field", with("is_admin", true), http.StatusBadRequest, `unknown field "is_admin"`},
			{"wrong type", with("grants", "reader:T1"), http.StatusBadRequest, `field "grants" must be an array`},
			{"empty body", "", http.StatusBadRequest, "request body is empty"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := g.do(t, "POST", "/api/v1/users", admin, tc.body)
				if r.status != tc.status || !strings.Contains(r.errorMessage(), tc.msg) {
					t.Errorf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.msg)
				}
			})
		}
		if r := g.do(t, "GET", "/api/v1/users/alan", admin, nil); r.status != http.StatusNotFound {
			t.Errorf("after refused creations: get alan %d %s, want 404", r.status, r.body)
		}
		req, _ := http.NewRequest("POST", g.url+"/api/v1/users", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
		}
	})

	t.Run("grants", func(t *testing.T) {
		patch := func(body any) account {
			t.Helper()
			r := g.do(t, "PATCH", "/api/v1/users/grace", admin, body)
			if r.status != http.StatusOK {
				t.Fatalf("patch %v: %d %s", body, r.status, r.body)
			}
			var a account
			r.decode(t, &a)
			return a
		}
		// Add qc_reviewer:T1 and revoke site_uploader:T1:S1 in one request.
		a := patch(map[string]any{"grants": []map[string]string{{"role": "reader", "trial": "T1"}, {"role": "qc_reviewer", "trial": "T1"}}})
		if got, want := strings.Join(a.grantStrings(), " "), "qc_reviewer:T1 reader:T1"; got != want {
			t.Errorf("grants %q, want %q", got, want)
		}
		added := entriesAbout(t, g, audit.ActionUserGrantAdded, created.ID)
		if len(added) != 1 {
			t.Fatalf("%d user.grant_added entries, want 1", len(added))
		}
		var after map[string]string
		json.Unmarshal(added[0].After.(json.RawMessage), &after)
		if added[0].Actor.ID != adminID || added[0].Actor.Role != string(auth.Admin) ||
			after["role"] != "qc_reviewer" || after["trial"] != "T1" {
			t.Errorf("user.grant_added by %+v, after %v", added[0].Actor, after)
		}
		revoked := entriesAbout(t, g, audit.ActionUserGrantRevoke, created.ID)
		if len(revoked) != 1 {
			t.Fatalf("%d user.grant_revoked entries, want 1", len(revoked))
		}
		var before map[string]string
		json.Unmarshal(revoked[0].Before.(json.RawMessage), &before)
		if revoked[0].Actor.ID != adminID || before["role"] != "site_uploader" || before["site"] != "S1" {
			t.Errorf("user.grant_revoked by %+v, before %v", revoked[0].Actor, before)
		}

		// The same set again changes nothing.
		n := len(g.trail(t))
		patch(map[string]any{"grants": []map[string]string{{"role": "qc_reviewer", "trial": "T1"}, {"role": "reader", "trial": "T1"}}})
		if m := len(g.trail(t)); m != n {
			t.Errorf("an unchanged grant set added %d audit entries", m-n)
		}

		// A request with one bad grant changes nothing at all.
		r := g.do(t, "PATCH", "/api/v1/users/grace", admin, map[string]any{
			"grants": []map[string]string{{"role": "data_manager", "trial": "T1"}, {"role": "inspector"}}})
		if r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(), "role inspector needs a trial") {
			t.Errorf("bad grant: %d %s", r.status, r.body)
		}
		if r := g.do(t, "PATCH", "/api/v1/users/grace", admin, map[string]any{}); r.status != http.StatusBadRequest {
			t.Errorf("empty change: %d %s, want 400", r.status, r.body)
		}
		var now account
		g.do(t, "GET", "/api/v1/users/grace", admin, nil).decode(t, &now)
		if got, want := strings.Join(now.grantStrings(), " "), "qc_reviewer:T1 reader:T1"; got != want {
			t.Errorf("after refused changes: grants %q, want %q", got, want)
		}
	})

	t.Run("deactivate", func(t *testing.T) {
		var sess struct{ Token string }
		g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "grace", "password": secret}).decode(t, &sess)
		token := sess.Token
		if r := g.do(t, "GET", "/api/v1/me", token, nil); r.status != http.StatusOK {
			t.Fatalf("me before: %d", r.status)
		}
		r := g.do(t, "PATCH", "/api/v1/users/grace", admin, map[string]any{"active": false})
		var a account
		r.decode(t, &a)
		if r.status != http.StatusOK || a.Active {
			t.Fatalf("deactivate: %d %s", r.status, r.body)
		}
		if len(a.Grants) != 2 {
			t.Errorf("deactivation changed grants: %v", a.grantStrings())
		}
		if r := g.do(t, "GET", "/api/v1/me", token, nil); r.status != http.StatusUnauthorized {
			t.Errorf("me after deactivation: %d, want 401", r.status)
		}
		if r := g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "grace", "password": secret}); r.status != http.StatusUnauthorized {
			t.Errorf("login while inactive: %d, want 401", r.status)
		}
		if n := len(entriesAbout(t, g, audit.ActionUserDeactivated, created.ID)); n != 1 {
			t.Errorf("%d user.deactivated entries, want 1", n)
		}
		// Asking again for the state it has is not an error.
		if r := g.do(t, "PATCH", "/api/v1/users/grace", admin, map[string]any{"active": false}); r.status != http.StatusOK {
			t.Errorf("deactivate again: %d %s", r.status, r.body)
		}

		r = g.do(t, "PATCH", "/api/v1/users/grace", admin, map[string]any{"active": true})
		a = account{}
		r.decode(t, &a)
		if r.status != http.StatusOK || !a.Active {
			t.Fatalf("reactivate: %d %s", r.status, r.body)
		}
		if n := len(entriesAbout(t, g, audit.ActionUserActivated, created.ID)); n != 1 {
			t.Errorf("%d user.activated entries, want 1", n)
		}
		if r := g.do(t, "GET", "/api/v1/me", token, nil); r.status != http.StatusUnauthorized {
			t.Errorf("the session ended by deactivation came back: %d", r.status)
		}
		if r := g.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "grace", "password": secret}); r.status != http.StatusOK {
			t.Errorf("login after reactivation: %d %s", r.status, r.body)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		for _, m := range []string{"GET", "PATCH"} {
			var body any
			if m == "PATCH" {
				body = map[string]any{"active": false}
			}
			r := g.do(t, m, "/api/v1/users/nobody", admin, body)
			if r.status != http.StatusNotFound {
				t.Errorf("%s unknown user: %d %s, want 404", m, r.status, r.body)
			}
		}
	})

	t.Run("own account", func(t *testing.T) {
		for _, body := range []map[string]any{{"active": false}, {"grants": []any{}}} {
			r := g.do(t, "PATCH", "/api/v1/users/root", admin, body)
			if r.status != http.StatusForbidden {
				t.Errorf("self-change %v: %d %s, want 403", body, r.status, r.body)
			}
		}
		var denied int
		for _, e := range g.trail(t) {
			if e.entry.Action == audit.ActionAccessDenied && e.entry.Actor.ID == adminID && e.entry.Outcome == audit.Denied &&
				e.entry.Object.ID == "PATCH /api/v1/users/:username" {
				denied++
			}
		}
		if denied != 2 {
			t.Errorf("%d access.denied entries for self-changes, want 2", denied)
		}
		var me account
		g.do(t, "GET", "/api/v1/users/root", admin, nil).decode(t, &me)
		if !me.Active || strings.Join(me.grantStrings(), " ") != "admin" {
			t.Errorf("after refused self-changes: %+v", me)
		}
	})

	t.Run("password never leaves", func(t *testing.T) {
		for _, b := range g.bodies {
			if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("$argon2id$")) {
				t.Errorf("a response body carries the password or a hash: %s", b)
			}
		}
		for _, e := range g.trail(t) {
			if bytes.Contains(e.raw, []byte(secret)) || bytes.Contains(e.raw, []byte("$argon2id$")) {
				t.Errorf("an audit entry carries the password or a hash: %s", e.raw)
			}
		}
	})
}
