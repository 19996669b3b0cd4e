package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/auth"
)

// No audit entry ever carries a password (right or wrong), a bearer token,
// a password hash or a token hash.
func TestNoSecretsInTrail(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		const wrong = "Wrong-Password-42!"
		e.create(t, "alice", auth.Grant{Role: auth.Admin})
		e.create(t, "bob", auth.Grant{Role: auth.Reader, Trial: "T1"})
		c := auth.Client{IP: "192.0.2.99", UserAgent: "secrets-test"}

		sa, pa := e.login(t, "alice", c)
		sb, pb := e.login(t, "bob", c)
		e.svc.Login(ctx, "bob", wrong, c)
		e.svc.Login(ctx, "nobody", wrong, c)
		e.svc.Login(ctx, wrong, password, c) // a password typed as the username
		e.svc.Sign(ctx, pb, wrong, auth.MeaningAuthorship, []byte("rec"))
		if _, err := e.svc.Sign(ctx, pb, password, auth.MeaningAuthorship, []byte("rec")); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.AddGrant(ctx, pa.Actor(auth.Admin), "bob", auth.Grant{Role: auth.QCReviewer, Trial: "T1"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Logout(ctx, pa); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Deactivate(ctx, admin, "bob"); err != nil {
			t.Fatal(err)
		}

		secrets := map[string]string{"password": password, "wrong password": wrong}
		for i, tok := range []auth.Token{sa.Token, sb.Token} {
			sum := sha256.Sum256([]byte(tok))
			secrets["token"+string(rune('A'+i))] = string(tok)
			secrets["token hash (hex)"+string(rune('A'+i))] = hex.EncodeToString(sum[:])
			secrets["token hash (base64)"+string(rune('A'+i))] = base64.StdEncoding.EncodeToString(sum[:])
		}
		rows, err := e.raw.QueryContext(ctx, `SELECT username, password_hash FROM users`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, hash string
			if err := rows.Scan(&name, &hash); err != nil {
				t.Fatal(err)
			}
			secrets["hash of "+name] = hash
			parts := strings.Split(hash, "$") // "", alg, v, params, salt, key
			secrets["salt of "+name] = parts[4]
			secrets["key of "+name] = parts[5]
		}
		rows.Close()

		trail := e.trail(t)
		if len(trail) < 15 {
			t.Fatalf("only %d entries: the scenario did not run", len(trail))
		}
		for _, r := range trail {
			for what, s := range secrets {
				if bytes.Contains(bytes.ToLower(r.canonical), bytes.ToLower([]byte(s))) {
					t.Errorf("entry %s carries the %s: %s", r.Action, what, r.canonical)
				}
			}
		}
	})
}
