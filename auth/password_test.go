package auth

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

var cheapParams = Argon2Params{Memory: 64, Time: 1, Threads: 1}

func TestPHCRoundTrip(t *testing.T) {
	if argon2.Version != 0x13 || phcPrefix != "$argon2id$v=19$" {
		t.Fatalf("argon2 version %d does not match the stored prefix %q", argon2.Version, phcPrefix)
	}
	h := hashPassword("correct horse battery", Argon2Params{Memory: 256, Time: 3, Threads: 2})
	form := regexp.MustCompile(`^\$argon2id\$v=19\$m=256,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !form.MatchString(h) {
		t.Fatalf("hash %q is not a PHC string", h)
	}
	p, err := parsePHC(h)
	if err != nil {
		t.Fatal(err)
	}
	if p.params != (Argon2Params{Memory: 256, Time: 3, Threads: 2}) || len(p.salt) != saltLen || len(p.key) != keyLen {
		t.Fatalf("parsed %+v", p)
	}
	if !p.matches("correct horse battery") {
		t.Error("the password does not match its hash")
	}
	for _, wrong := range []string{"", "correct horse batter", "correct horse battery ", "Correct horse battery"} {
		if p.matches(wrong) {
			t.Errorf("%q matches", wrong)
		}
	}
	if hashPassword("same", cheapParams) == hashPassword("same", cheapParams) {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestParsePHCRefuses(t *testing.T) {
	good := hashPassword("x", cheapParams)
	parts := strings.Split(good, "$")
	tests := map[string]string{
		"empty":        "",
		"argon2i":      strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":  strings.Replace(good, "v=19", "v=16", 1),
		"no params":    "$argon2id$v=19$" + parts[4] + "$" + parts[5],
		"bad params":   strings.Replace(good, "m=64,t=1,p=1", "m=64,t=1", 1),
		"huge memory":  strings.Replace(good, "m=64", "m=99999999", 1),
		"zero time":    strings.Replace(good, "t=1", "t=0", 1),
		"zero lanes":   strings.Replace(good, "p=1", "p=0", 1),
		"bad salt":     strings.Replace(good, parts[4], "!!!", 1),
		"short key":    strings.Replace(good, parts[5], "AAAA", 1),
		"extra field":  good + "$x",
		"memory < 8*p": strings.Replace(good, "m=64,t=1,p=1", "m=8,t=1,p=2", 1),
	}
	for name, s := range tests {
		if _, err := parsePHC(s); err == nil {
			t.Errorf("%s: %q parsed", name, s)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	d := DefaultConfig()
	if c.SessionTTL != d.SessionTTL || c.IdleTimeout != d.IdleTimeout || c.LockoutThreshold != 5 ||
		c.LockoutDuration != d.LockoutDuration || c.Argon2 != (Argon2Params{Memory: 19456, Time: 2, Threads: 1}) ||
		c.ActivityInterval != d.ActivityInterval || c.Clock == nil || c.MaxConcurrentHashes < 1 {
		t.Fatalf("defaults %+v", c)
	}
	// The activity interval never approaches the idle timeout.
	c = Config{IdleTimeout: 60_000_000_000, ActivityInterval: 3600_000_000_000}.withDefaults()
	if c.ActivityInterval != 30_000_000_000 {
		t.Errorf("activity interval %v", c.ActivityInterval)
	}
	// Unusable argon2 parameters are raised to the minimum.
	if p := (Argon2Params{Memory: 1, Threads: 4}).clamped(); p != (Argon2Params{Memory: 32, Time: 1, Threads: 4}) {
		t.Errorf("clamped %+v", p)
	}
}

func BenchmarkHashPassword(b *testing.B) {
	p := defaultArgon2()
	b.ReportAllocs()
	for b.Loop() {
		hashPassword("correct horse battery", p)
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, err := parsePHC(hashPassword("correct horse battery", defaultArgon2()))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !h.matches("correct horse battery") {
			b.Fatal("no match")
		}
	}
}
