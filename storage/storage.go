// Package storage defines TrialGate's content-addressed object store: the
// Store interface that the ingest pipeline writes de-identified DICOM objects
// and signed checkpoints to, and the helpers every backend shares (key
// syntax, errors, the verifying reader).
//
// An object's key is derived from the SHA-256 of its bytes,
// "sha256/<first two hex digits>/<64 hex digits>", so the key itself proves
// what the bytes must be: a reader re-hashes while streaming and reports
// ErrCorrupt if storage handed back anything else. Putting the same bytes
// twice yields the same key, which makes retried uploads idempotent.
//
// Objects are not part of a database transaction. The write path is: put the
// object first, then record the reference and its audit entry in the
// transaction; objects that no row references are collected later with
// Delete.
//
// Backends are sibling packages (storage/fs, storage/s3); each is the only
// importer of its driver. storage/storagetest holds the contract tests they
// all pass.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/trialgate/trialgate"
)

// Object describes a stored object.
type Object struct {
	Key    string // content address, "sha256/<first2hex>/<64hex>"
	SHA256 string // lowercase hex SHA-256 of the bytes
	Size   int64  // length in bytes
}

// Store is a content-addressed object store.
//
// Every method validates keys with ParseKey and fails with code
// trialgate.EInvalid (and ErrInvalidKey) for anything else. Errors a caller must
// classify carry a trial code: a missing object is trialgate.ENotFound (and
// ErrNotFound), an unreachable backend is trialgate.EUnavailable (and
// ErrUnavailable), an integrity failure is trialgate.EInternal (and ErrCorrupt).
type Store interface {
	// Put streams r into the store and returns its content address. The key
	// is derived from the SHA-256 of the bytes, so putting the same bytes
	// twice is idempotent and returns the same Object. Memory use does not
	// depend on the size of the object.
	Put(ctx context.Context, r io.Reader) (Object, error)

	// Get opens the object. The returned reader re-hashes as it is read and
	// returns an error wrapping ErrCorrupt instead of io.EOF if the bytes do
	// not match the key, so only a reader drained to io.EOF has been
	// verified. The caller must close it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Stat describes the object without reading (or verifying) its bytes.
	Stat(ctx context.Context, key string) (Object, error)

	// Delete removes an object. It is only for unreferenced objects (garbage
	// collection of temporary or orphaned objects); callers check references.
	// Deleting an object that does not exist is not an error, so a collector
	// that crashed halfway can simply run again.
	Delete(ctx context.Context, key string) error

	// Ping reports whether the store is reachable (for /readyz).
	Ping(ctx context.Context) error
}

// Sentinel errors, matched with errors.Is. Stores return them wrapped in a
// *trialgate.Error that carries the matching code and a public message.
var (
	// ErrNotFound means no object has the key (code trialgate.ENotFound).
	ErrNotFound = errors.New("storage: object not found")
	// ErrUnavailable means the backend could not be reached or is
	// temporarily refusing service (code trialgate.EUnavailable).
	ErrUnavailable = errors.New("storage: object store unavailable")
	// ErrCorrupt means the stored bytes do not hash to their key
	// (code trialgate.EInternal).
	ErrCorrupt = errors.New("storage: object failed its integrity check")
	// ErrInvalidKey means the key is not a content address (code
	// trialgate.EInvalid).
	ErrInvalidKey = errors.New("storage: invalid object key")
	// ErrRetained means the object is under WORM retention that the store
	// enforces: it cannot be deleted, or its retention cannot be lifted
	// (code trialgate.ELocked).
	ErrRetained = errors.New("storage: object is under retention")
)

// Retention is WORM retention placed on an object: until Until, the
// store refuses to delete or overwrite it. Mode is the S3 Object Lock
// mode, GOVERNANCE (a privileged caller may lift it) or COMPLIANCE
// (nobody can, until it expires).
type Retention struct {
	Mode  string
	Until time.Time
}

// Retained returns the error a Store reports when op is refused because
// the object under key is retained.
func Retained(op, key string, cause error) error {
	return trialgate.Wrap(fmt.Errorf("%w: %s: %s: %w", ErrRetained, op, key, cause),
		trialgate.ELocked, "object is under retention")
}

const (
	keyPrefix = "sha256/"
	hexLen    = 2 * sha256.Size
	// keyLen is len("sha256/ab/") + 64.
	keyLen = len(keyPrefix) + 3 + hexLen
)

// Key returns the content address of bytes whose SHA-256 is sum.
func Key(sum [sha256.Size]byte) string {
	h := hex.EncodeToString(sum[:])
	return keyPrefix + h[:2] + "/" + h
}

// ObjectOf returns the Object for bytes whose SHA-256 is sum and whose length
// is size.
func ObjectOf(sum [sha256.Size]byte, size int64) Object {
	return Object{Key: Key(sum), SHA256: hex.EncodeToString(sum[:]), Size: size}
}

// ParseKey checks that key is exactly a content address as produced by Key
// and returns its SHA-256. The form is strict (lowercase hex, no other
// characters), which is what keeps keys from naming anything but an object:
// a backend may join a valid key to a path or URL without escaping it.
func ParseKey(key string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if len(key) != keyLen || key[:len(keyPrefix)] != keyPrefix {
		return sum, invalidKey(key)
	}
	shard, h := key[len(keyPrefix):len(keyPrefix)+2], key[len(keyPrefix)+3:]
	if key[len(keyPrefix)+2] != '/' || shard != h[:2] || !isLowerHex(h) {
		return sum, invalidKey(key)
	}
	if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
		return sum, invalidKey(key)
	}
	return sum, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func invalidKey(key string) error {
	// The key is quoted with %q so control characters cannot forge log lines;
	// it is kept out of the public message, which needs no detail.
	return trialgate.Wrap(fmt.Errorf("%w %q", ErrInvalidKey, key), trialgate.EInvalid, "invalid object key")
}

// NotFound returns the error a Store reports when key names no object. cause
// may be nil.
func NotFound(key string, cause error) error {
	err := fmt.Errorf("%w: %s", ErrNotFound, key)
	if cause != nil {
		err = fmt.Errorf("%w: %s: %w", ErrNotFound, key, cause)
	}
	return trialgate.Wrap(err, trialgate.ENotFound, "object not found")
}

// Unavailable returns the error a Store reports when op failed because the
// backend is unreachable, overloaded or out of space, i.e. when retrying
// later may succeed.
func Unavailable(op string, cause error) error {
	return trialgate.Wrap(fmt.Errorf("%w: %s: %w", ErrUnavailable, op, cause),
		trialgate.EUnavailable, "object store unavailable")
}

// Corrupt returns the error reported when the bytes stored under key do not
// hash to it.
func Corrupt(key string, got [sha256.Size]byte) error {
	return trialgate.Wrap(fmt.Errorf("%w: %s: read bytes hash to %x", ErrCorrupt, key, got),
		trialgate.EInternal, "stored object failed its integrity check")
}

// Verify wraps rc, the raw bytes stored under a key whose SHA-256 is want, in
// a reader that hashes what passes through it. At the end of the stream it
// returns Corrupt instead of io.EOF if the hash differs, on that and every
// later Read. Closing it closes rc.
func Verify(rc io.ReadCloser, key string, want [sha256.Size]byte) io.ReadCloser {
	return &verifier{rc: rc, key: key, want: want, h: sha256.New()}
}

type verifier struct {
	rc   io.ReadCloser
	key  string
	want [sha256.Size]byte
	h    hash.Hash
	err  error // sticky end-of-stream result
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n]) // a hash.Hash never returns an error
	if err == io.EOF {
		var got [sha256.Size]byte
		copy(got[:], v.h.Sum(nil))
		if got != v.want {
			// Bytes already returned in p are suspect too; the error tells
			// the caller to discard everything it read.
			err = Corrupt(v.key, got)
		}
		v.err = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }
