package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"testing"
	"testing/iotest"
)

// Parts up to memorySpool stay in memory, larger ones go to a file; both
// keep every byte and hash them as they arrive, and release cleans up.
func TestSpool(t *testing.T) {
	s := &Service{tempDir: t.TempDir(), buffers: sync.Pool{New: newSpoolBuffer}}
	for _, n := range []int{0, 1, memorySpool - 1, memorySpool, memorySpool + 1, 3*memorySpool + 17} {
		data := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		// One byte per read: as slowly as any network delivers it.
		sp, err := s.spool(iotest.OneByteReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if sp.sha256 != hex.EncodeToString(sum[:]) || sp.size != int64(n) {
			t.Errorf("%d bytes: spooled %d, hash %s", n, sp.size, sp.sha256)
		}
		if onDisk := sp.f != nil; onDisk != (n >= memorySpool) {
			t.Errorf("%d bytes: on disk = %v", n, onDisk)
		}
		for range 2 { // rewinding gives the bytes again
			r, err := sp.rewind()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: read back %d (%v)", n, len(got), err)
			}
		}
		s.release(sp)
		if sp.f != nil {
			if _, err := os.Stat(sp.f.Name()); !os.IsNotExist(err) {
				t.Errorf("%d bytes: spool file left behind", n)
			}
		}
	}
	// A part that fails mid-way leaves nothing behind.
	if _, err := s.spool(iotest.ErrReader(io.ErrUnexpectedEOF)); err == nil {
		t.Error("a failing part spooled")
	}
	if left, _ := os.ReadDir(s.tempDir); len(left) != 0 {
		t.Errorf("%d files left in the spool directory", len(left))
	}
}
