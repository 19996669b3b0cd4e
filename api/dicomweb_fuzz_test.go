package api

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// FuzzReadParts feeds arbitrary bodies to the STOW-RS multipart reader and
// every part to the DICOM header parser and writer, as the pipeline does:
// neither may panic or hang, whatever arrives.
func FuzzReadParts(f *testing.F) {
	seed := func(parts ...[]byte) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("fuzzboundary")
		for _, p := range parts {
			w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
			w.Write(p)
		}
		mw.Close()
		return b.Bytes()
	}
	real, _ := filepath.Glob(filepath.Join("..", "testdata", "real", "*.dcm"))
	for _, name := range real {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(seed(b[:min(len(b), 4096)]))
		}
	}
	f.Add(seed([]byte("not dicom"), nil))
	f.Add([]byte("--fuzzboundary\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--fuzzboundary--"))
	f.Add([]byte("--fuzzboundary\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		err := readParts(bytes.NewReader(body), "fuzzboundary", func(n int, mediaType string, part io.Reader) error {
			obj, err := dicom.Parse(part, dicom.Limits{MaxHeader: 1 << 20})
			if err != nil {
				return nil // a refused part, as the pipeline would report it
			}
			if _, err := obj.Write(io.Discard, nil); err != nil {
				return nil
			}
			if n > 1000 {
				return fmt.Errorf("too many parts")
			}
			return nil
		})
		_ = err
	})
}
