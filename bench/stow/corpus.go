package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/trialgate/trialgate/dicom"
)

// isDICOMFile reports whether path starts with a 128-byte preamble and
// "DICM" (PS3.10 7.1), the form STOW-RS parts take.
func isDICOMFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [132]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	return string(b[128:]) == "DICM", nil
}

// dicomFiles walks dir and returns its DICOM files (PS3.10, see
// isDICOMFile) in lexical order; other files are skipped.
func dicomFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ok, err := isDICOMFile(path)
		if err != nil {
			return err
		}
		if ok {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no DICOM files (preamble + DICM) under %s", dir)
	}
	sort.Strings(out)
	return out, nil
}

// makeCorpus writes n distinct instances into out, copy i derived from
// source file i mod len(sources): each copy gets new Study, Series and SOP
// Instance UIDs (2.25.<random>, the file meta's Media Storage SOP Instance
// UID following), and is otherwise the source re-encoded by package
// dicom, its pixel data streamed byte for byte. Copies are written in
// parallel.
func makeCorpus(ctx context.Context, n int, from, out string, log io.Writer) error {
	if n <= 0 {
		return fmt.Errorf("-make-corpus %d: want a positive count", n)
	}
	sources, err := dicomFiles(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("corpus folder: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range jobs {
				dst := filepath.Join(out, fmt.Sprintf("%06d.dcm", i))
				if err := deriveCopy(ctx, sources[i%len(sources)], dst); err != nil {
					select {
					case errs <- err:
					default:
					}
					cancel()
				}
			}
		})
	}
	var total int64
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range n {
		fi, err := os.Stat(filepath.Join(out, fmt.Sprintf("%06d.dcm", i)))
		if err != nil {
			return err
		}
		total += fi.Size()
	}
	fmt.Fprintf(log, "corpus: %d instances, %.1f MB, from %d source files in %s, written to %s\n",
		n, float64(total)/1e6, len(sources), from, out)
	return nil
}

// deriveCopy writes src to dst with new Study, Series and SOP Instance
// UIDs, streaming: only the header is held in memory.
func deriveCopy(ctx context.Context, src, dst string) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	obj, err := dicom.Parse(in, dicom.Limits{})
	if err != nil {
		return fmt.Errorf("parse %s: %w", src, err)
	}
	for _, tag := range []dicom.Tag{dicom.StudyInstanceUID, dicom.SeriesInstanceUID, dicom.SOPInstanceUID} {
		uid, err := newUID()
		if err != nil {
			return err
		}
		obj.Dataset.SetString(tag, "UI", uid)
		if tag == dicom.SOPInstanceUID && obj.Meta != nil {
			obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", uid)
		}
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := obj.Write(f, nil); err != nil {
		return fmt.Errorf("write %s (from %s): %w", dst, src, err)
	}
	return nil
}
