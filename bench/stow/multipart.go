package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"os"
)

// part is one application/dicom part of a STOW-RS request: its exact size
// and a way to open its content. The content is streamed, never held in
// memory whole.
type part struct {
	name string // for messages: a path or "synthetic"
	size int64
	open func() (io.ReadCloser, error)
}

// filePart returns the part of the file at path.
func filePart(path string) (part, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return part{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return part{
		name: path,
		size: fi.Size(),
		open: func() (io.ReadCloser, error) { return os.Open(path) },
	}, nil
}

// partHeader is the MIME header of every part.
func partHeader() textproto.MIMEHeader {
	return textproto.MIMEHeader{"Content-Type": {"application/dicom"}}
}

// contentType is the request's media type for boundary, as PS3.18 STOW-RS
// wants it.
func contentType(boundary string) string {
	return fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, boundary)
}

// bodySize returns the exact length of the multipart body that writeBody
// produces for parts with boundary: the framing does not depend on the
// content, so it is measured by writing empty parts.
func bodySize(boundary string, parts []part) (int64, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return 0, fmt.Errorf("boundary: %w", err)
	}
	n := int64(0)
	for _, p := range parts {
		if _, err := mw.CreatePart(partHeader()); err != nil {
			return 0, err
		}
		n += p.size
	}
	if err := mw.Close(); err != nil {
		return 0, err
	}
	return n + int64(buf.Len()), nil
}

// writeBody writes the multipart/related body of parts to w, streaming each
// part's content through buf.
func writeBody(w io.Writer, boundary string, parts []part, buf []byte) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return fmt.Errorf("boundary: %w", err)
	}
	for _, p := range parts {
		pw, err := mw.CreatePart(partHeader())
		if err != nil {
			return fmt.Errorf("part header: %w", err)
		}
		if err := copyPart(pw, p, buf); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("closing boundary: %w", err)
	}
	return nil
}

// copyPart streams p into w and checks that it had the announced size (the
// request's Content-Length depends on it).
func copyPart(w io.Writer, p part, buf []byte) error {
	r, err := p.open()
	if err != nil {
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	defer r.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(r, p.size), buf)
	if err != nil {
		return fmt.Errorf("send %s: %w", p.name, err)
	}
	if n != p.size {
		return fmt.Errorf("send %s: %d bytes, want %d (file changed?)", p.name, n, p.size)
	}
	return nil
}

// copyBufferSize is the buffer each request streams its parts through.
const copyBufferSize = 256 << 10

// newBody returns a reader of the multipart body of parts, produced by a
// goroutine through an io.Pipe as the HTTP client reads it, and its exact
// length. Closing the reader (the HTTP client does, also on errors) stops
// the goroutine. Each body has its own buffer: the client may return
// before the goroutine has finished.
func newBody(boundary string, parts []part) (io.ReadCloser, int64, error) {
	size, err := bodySize(boundary, parts)
	if err != nil {
		return nil, 0, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeBody(pw, boundary, parts, make([]byte, copyBufferSize)))
	}()
	return pr, size, nil
}
