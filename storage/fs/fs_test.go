package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/storagetest"
)

// Corrupt implements storagetest.Corrupter by flipping a byte of the file in
// place, as bit rot would. It lives in a _test file so it never ships.
func (s *Store) Corrupt(ctx context.Context, key string) error {
	if _, err := storage.ParseKey(key); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path(key), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return errors.New("cannot corrupt an empty object by flipping a byte")
	}
	off := fi.Size() / 2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return f.Close()
}

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := newStore(t)
		// Whatever the contract did, no upload may be left half-way.
		t.Cleanup(func() { assertNoTemporaryFiles(t, s) })
		return s
	})
}

func assertNoTemporaryFiles(t *testing.T, s *Store) {
	t.Helper()
	left, err := os.ReadDir(s.tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("temporary file left behind: %s", e.Name())
	}
}

func TestNewCreatesNestedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "c")
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A second store on the same folder sees the first one's objects.
	obj, err := s.Put(context.Background(), bytes.NewReader([]byte("shared")))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Stat(context.Background(), obj.Key); err != nil {
		t.Errorf("second store: Stat: %v", err)
	}
}

func TestLayout(t *testing.T) {
	s := newStore(t)
	obj, err := s.Put(context.Background(), bytes.NewReader([]byte("layout")))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.dir, "sha256", obj.SHA256[:2], obj.SHA256)
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatalf("object not at %s: %v", want, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("object file mode %v is readable by others", perm)
	}
}

// TestExistingObjectNotRewritten checks that a second Put of the same bytes
// keeps the file already in place rather than replacing it.
func TestExistingObjectNotRewritten(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := []byte("write once")
	obj, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(s.path(obj.Key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(s.path(obj.Key))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("second Put replaced the existing file")
	}
	assertNoTemporaryFiles(t, s)
}

// TestTruncatedObjectRepaired checks that a damaged object of the wrong size
// is replaced by the next Put of its bytes.
func TestTruncatedObjectRepaired(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	data := []byte("to be truncated")
	obj, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.path(obj.Key), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, obj.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("after repair: %q, %v", buf.Bytes(), err)
	}
}

func TestPingMissingDir(t *testing.T) {
	s := newStore(t)
	if err := os.RemoveAll(s.dir); err != nil {
		t.Fatal(err)
	}
	err := s.Ping(context.Background())
	if trialgate.ErrorCode(err) != trialgate.EUnavailable || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping on a removed folder = %v, want unavailable", err)
	}
}

func BenchmarkPut(b *testing.B) {
	storagetest.BenchPut(b, newStore(b))
}

// BenchmarkRawWrite is the yardstick for BenchmarkPut: the same bytes
// written and fsynced to a file with no hashing or rename.
func BenchmarkRawWrite(b *testing.B) {
	dir := b.TempDir()
	buf := make([]byte, 256<<10)
	for _, size := range []int64{64 << 10, 1 << 20, 32 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				f, err := os.CreateTemp(dir, "raw-*")
				if err != nil {
					b.Fatal(err)
				}
				for left := size; left > 0; left -= int64(len(buf)) {
					if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
				os.Remove(f.Name())
			}
		})
	}
}
