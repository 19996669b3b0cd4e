package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/trialgate/trialgate"
)

// Argon2Params are the cost parameters of argon2id password hashes.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
}

// defaultArgon2 follows the OWASP recommendation for argon2id (19 MiB, two
// passes, one lane): a few tens of milliseconds on a server core.
func defaultArgon2() Argon2Params { return Argon2Params{Memory: 19456, Time: 2, Threads: 1} }

// Bounds on parameters accepted from configuration or from a stored hash:
// a corrupted or hostile hash must not make a login allocate gigabytes.
const (
	maxArgonMemory  = 1 << 21 // KiB: 2 GiB
	maxArgonTime    = 64
	saltLen         = 16
	keyLen          = 32
	minStoredKeyLen = 16
	maxStoredKeyLen = 64
)

// clamped returns p made valid for argon2 (at least 8 KiB per lane, one
// pass, one lane) and within the bounds above.
func (p Argon2Params) clamped() Argon2Params {
	p.Threads = max(p.Threads, 1)
	p.Time = min(max(p.Time, 1), maxArgonTime)
	p.Memory = min(max(p.Memory, 8*uint32(p.Threads)), maxArgonMemory)
	return p
}

// phcPrefix starts every stored hash: the algorithm and its version
// (argon2.Version, 0x13; a test checks they agree).
const phcPrefix = "$argon2id$v=19$"

// hashPassword returns the PHC string of password under p with a fresh
// random salt: "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>",
// salt and hash in unpadded standard base64.
func hashPassword(password string, p Argon2Params) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("%sm=%d,t=%d,p=%d$%s$%s", phcPrefix, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// phc is a parsed password hash.
type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

var errMalformedHash = errors.New("auth: malformed password hash")

// parsePHC parses a stored hash written by hashPassword.
func parsePHC(s string) (phc, error) {
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		return phc{}, fmt.Errorf("%w: not argon2id v=19", errMalformedHash)
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 3 {
		return phc{}, errMalformedHash
	}
	var h phc
	var m, t, p uint64
	if n, err := fmt.Sscanf(parts[0], "m=%d,t=%d,p=%d", &m, &t, &p); n != 3 || err != nil {
		return phc{}, fmt.Errorf("%w: parameters %q", errMalformedHash, parts[0])
	}
	if m > maxArgonMemory || t < 1 || t > maxArgonTime || p < 1 || p > 255 || m < 8*p {
		return phc{}, fmt.Errorf("%w: parameters out of range %q", errMalformedHash, parts[0])
	}
	h.params = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[1]); err != nil || len(h.salt) < 8 {
		return phc{}, fmt.Errorf("%w: salt", errMalformedHash)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[2]); err != nil ||
		len(h.key) < minStoredKeyLen || len(h.key) > maxStoredKeyLen {
		return phc{}, fmt.Errorf("%w: key", errMalformedHash)
	}
	return h, nil
}

// matches reports whether password hashes to h, comparing in constant time.
func (h phc) matches(password string) bool {
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// Password policy bounds.
const (
	MinPasswordLength = 12   // characters
	MaxPasswordBytes  = 1024 // bytes, so hashing cost stays bounded
)

// ValidatePassword checks password against the policy for the account
// username: at least MinPasswordLength characters, at most MaxPasswordBytes
// bytes, and not containing the username (ignoring case). It returns a
// trialgate.EInvalid error that says which rule failed.
func ValidatePassword(username, password string) error {
	switch {
	case !utf8.ValidString(password):
		return trialgate.Errorf(trialgate.EInvalid, "password must be valid UTF-8 text")
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return trialgate.Errorf(trialgate.EInvalid, "password must be at least %d characters long", MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return trialgate.Errorf(trialgate.EInvalid, "password must be at most %d bytes long", MaxPasswordBytes)
	case username != "" && strings.EqualFold(password, username):
		return trialgate.Errorf(trialgate.EInvalid, "password must not be the username")
	case username != "" && strings.Contains(strings.ToLower(password), strings.ToLower(username)):
		return trialgate.Errorf(trialgate.EInvalid, "password must not contain the username")
	}
	return nil
}

// Username bounds.
const (
	MinUsernameLength = 3
	MaxUsernameLength = 64
)

// ValidateUsername checks that name is 3 to 64 characters of a-z, 0-9,
// '.', '_' and '-'. It returns a trialgate.EInvalid error that says which rule
// failed.
func ValidateUsername(name string) error {
	if n := len(name); n < MinUsernameLength || n > MaxUsernameLength {
		return trialgate.Errorf(trialgate.EInvalid, "username must be %d to %d characters long", MinUsernameLength, MaxUsernameLength)
	}
	if strings.ToLower(name) != name {
		return trialgate.Errorf(trialgate.EInvalid, "username must be lower-case")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return trialgate.Errorf(trialgate.EInvalid, "username may contain only a-z, 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// Full name bounds.
const MaxFullNameLength = 200 // characters

// validateFullName checks the printed name shown in signatures.
func validateFullName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return trialgate.Errorf(trialgate.EInvalid, "full name is required")
	case name != strings.TrimSpace(name):
		return trialgate.Errorf(trialgate.EInvalid, "full name must not start or end with white space")
	case !utf8.ValidString(name):
		return trialgate.Errorf(trialgate.EInvalid, "full name must be valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxFullNameLength:
		return trialgate.Errorf(trialgate.EInvalid, "full name must be at most %d characters long", MaxFullNameLength)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return trialgate.Errorf(trialgate.EInvalid, "full name must not contain control characters")
	}
	return nil
}
