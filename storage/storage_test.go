package storage_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/storage"
)

func TestKeyRoundTrip(t *testing.T) {
	sum := sha256.Sum256([]byte("hello"))
	key := storage.Key(sum)
	const want = "sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if key != want {
		t.Fatalf("Key = %s, want %s", key, want)
	}
	got, err := storage.ParseKey(key)
	if err != nil || got != sum {
		t.Fatalf("ParseKey(%s) = %x, %v", key, got, err)
	}
	obj := storage.ObjectOf(sum, 5)
	if obj.Key != key || obj.SHA256 != want[10:] || obj.Size != 5 {
		t.Errorf("ObjectOf = %+v", obj)
	}
}

func TestParseKeyRejects(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, key := range []string{
		"", "sha256/ab/" + h[:62] + "zz", "sha256/ab/" + strings.ToUpper(h),
		"sha256/ac/" + h, "sha256/ab" + h, "sha256/ab/" + h + "\n",
		"sha256/../" + h[:62], "sha256/ab//" + h[:63],
	} {
		_, err := storage.ParseKey(key)
		if trialgate.ErrorCode(err) != trialgate.EInvalid || !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ParseKey(%q) = %v, want an invalid-key error", key, err)
		}
	}
}

func TestVerify(t *testing.T) {
	data := bytes.Repeat([]byte("dicom"), 10000)
	sum := sha256.Sum256(data)
	key := storage.Key(sum)

	// Intact bytes, read in odd-sized pieces and with data arriving
	// together with io.EOF.
	for name, r := range map[string]io.Reader{
		"half":     iotest.HalfReader(bytes.NewReader(data)),
		"data+eof": iotest.DataErrReader(bytes.NewReader(data)),
	} {
		got, err := io.ReadAll(storage.Verify(io.NopCloser(r), key, sum))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: intact object: %d bytes, %v", name, len(got), err)
		}
	}

	// One flipped byte, and a truncation.
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	for name, b := range map[string][]byte{"flipped": bad, "truncated": data[:len(data)-1]} {
		v := storage.Verify(io.NopCloser(iotest.DataErrReader(bytes.NewReader(b))), key, sum)
		_, err := io.ReadAll(v)
		if !errors.Is(err, storage.ErrCorrupt) || trialgate.ErrorCode(err) != trialgate.EInternal {
			t.Errorf("%s: err = %v, want ErrCorrupt with code internal", name, err)
		}
		if trialgate.ErrorMessage(err) != "internal error" {
			t.Errorf("%s: public message %q leaks detail", name, trialgate.ErrorMessage(err))
		}
		if _, err := v.Read(make([]byte, 8)); !errors.Is(err, storage.ErrCorrupt) {
			t.Errorf("%s: later Read = %v, want ErrCorrupt again", name, err)
		}
	}
}

func TestErrorHelpers(t *testing.T) {
	cause := errors.New("backend said no")
	nf := storage.NotFound("sha256/ab/x", cause)
	if trialgate.ErrorCode(nf) != trialgate.ENotFound || !errors.Is(nf, storage.ErrNotFound) || !errors.Is(nf, cause) {
		t.Errorf("NotFound = %v", nf)
	}
	un := storage.Unavailable("put", cause)
	if trialgate.ErrorCode(un) != trialgate.EUnavailable || !errors.Is(un, storage.ErrUnavailable) || !errors.Is(un, cause) {
		t.Errorf("Unavailable = %v", un)
	}
	if strings.Contains(trialgate.ErrorMessage(un), "backend said no") {
		t.Errorf("public message %q carries the cause", trialgate.ErrorMessage(un))
	}
}
