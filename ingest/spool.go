package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/trialgate/trialgate"
)

// memorySpool is the largest part held in memory rather than spooled to
// a file. Most instances of a study are small (a CT slice is about half a
// MiB) and a temporary file costs a create and an unlink each, which on a
// busy journal wait behind other writers' fsyncs; memory held is bounded by
// this times the uploads in flight.
const memorySpool = 1 << 20

// spooled is a received part with its proof of receipt: the SHA-256 and
// size of its bytes exactly as they arrived.
type spooled struct {
	r      io.ReadSeeker
	f      *os.File // the spool file, or nil when in memory
	buf    *[]byte  // the pooled memory, or nil when on disk
	sha256 string
	size   int64
}

// newSpoolBuffer allocates a buffer for the pool.
func newSpoolBuffer() any {
	b := make([]byte, memorySpool)
	return &b
}

// spool receives a part while hashing it: in memory up to memorySpool,
// beyond that in a temporary file.
func (s *Service) spool(part io.Reader) (*spooled, error) {
	bufp := s.buffers.Get().(*[]byte)
	buf := *bufp
	h := sha256.New()
	// Not io.ReadFull: its ErrUnexpectedEOF would hide a part that broke
	// off (multipart reports a body cut short that way) as a short one.
	n, err := 0, error(nil)
	for empty := 0; n < len(buf) && err == nil; {
		var m int
		m, err = part.Read(buf[n:])
		n += m
		if m > 0 {
			empty = 0
		} else if empty++; empty == 100 {
			err = io.ErrNoProgress // as bufio does: a reader that never delivers
		}
	}
	h.Write(buf[:n])
	switch {
	case err == io.EOF:
		return &spooled{r: bytes.NewReader(buf[:n]), buf: bufp, sha256: hex.EncodeToString(h.Sum(nil)), size: int64(n)}, nil
	case err != nil:
		s.buffers.Put(bufp)
		return nil, fmt.Errorf("ingest: receive part: %w", err)
	}
	defer s.buffers.Put(bufp)
	f, err := os.CreateTemp(s.tempDir, "part-*.dcm")
	if err != nil {
		return nil, trialgate.Wrap(err, trialgate.EUnavailable, "no room to receive the upload")
	}
	// Parts arrive a few KiB per read; buffering the file's writes keeps
	// the syscalls per part few.
	bw := bufio.NewWriterSize(f, 256<<10)
	_, err = bw.Write(buf)
	var m int64
	if err == nil {
		m, err = io.Copy(io.MultiWriter(bw, h), part)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		if errors.Is(err, syscall.ENOSPC) {
			return nil, trialgate.Wrap(err, trialgate.EUnavailable, "no room to receive the upload")
		}
		return nil, fmt.Errorf("ingest: receive part: %w", err)
	}
	return &spooled{r: f, f: f, sha256: hex.EncodeToString(h.Sum(nil)), size: int64(n) + m}, nil
}

// rewind returns the part's bytes from the start.
func (sp *spooled) rewind() (io.Reader, error) {
	if _, err := sp.r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("ingest: rewind part: %w", err)
	}
	return sp.r, nil
}

// release frees a spooled part: its file, or its memory back to the pool.
func (s *Service) release(sp *spooled) {
	if sp.f != nil {
		sp.f.Close()
		os.Remove(sp.f.Name())
	}
	if sp.buf != nil {
		s.buffers.Put(sp.buf)
	}
}
