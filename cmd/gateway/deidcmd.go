package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/deid"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/trial"
)

const deidUsage = `usage: gateway deid --config trial.json --secret-file F --out DIR [--site S] [--subject X] [--visit V] FILES_OR_DIRS...
(the trial JSON of POST /api/v1/trials; directories are walked recursively; each object's
site, subject and visit come from its own (0012,0030/0040/0050) when present, else from the flags)`

// deidCmd de-identifies files offline with the gateway's engine: one
// DIR/<new SOP Instance UID>.dcm per input, streamed (memory does not grow
// with the file), a summary line per file on stdout and errors per file on
// stderr; the exit status is 1 if any file failed.
func deidCmd(ctx context.Context, env *environment, args []string) error {
	var config, secretFile, out, site, subject, visit string
	fs := env.flags("deid", deidUsage)
	fs.StringVar(&config, "config", "", "the trial definition (JSON)")
	fs.StringVar(&secretFile, "secret-file", "", "file holding the gateway's master secret (at least 32 bytes)")
	fs.StringVar(&out, "out", "", "output directory")
	fs.StringVar(&site, "site", "", "site id for objects without (0012,0030)")
	fs.StringVar(&subject, "subject", "", "subject code for objects without (0012,0040)")
	fs.StringVar(&visit, "visit", "", "visit id for objects without (0012,0050)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	switch {
	case config == "" || secretFile == "" || out == "":
		return exitError{code: 2, msg: "--config, --secret-file and --out are required\n" + deidUsage}
	case fs.NArg() == 0:
		return exitError{code: 2, msg: "no input files\n" + deidUsage}
	}
	prof, err := loadProfile(config, secretFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o750); err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	files, err := inputs(fs.Args(), out)
	if err != nil {
		return fmt.Errorf("deid: %w", err)
	}

	start := time.Now()
	fallback := deid.Subject{Site: site, Subject: subject, Visit: visit}
	var failed, skipped, held int
	var size int64
	for _, in := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deid: %w", err)
		}
		f := in.path
		dst, res, n, err := deidFile(prof, f, out, fallback)
		if err != nil && in.walked && errors.Is(err, dicom.ErrNotDICOM) {
			// A directory may hold notes, checksums and the like.
			skipped++
			fmt.Fprintf(env.stderr, "deid: %s: skipped: not DICOM\n", f)
			continue
		}
		if err != nil {
			failed++
			fmt.Fprintf(env.stderr, "deid: %s: %v\n", f, err)
			continue
		}
		size += n
		c := res.Counts
		line := fmt.Sprintf("%s -> %s removed=%d emptied=%d dummied=%d cleaned=%d remapped=%d kept=%d shifted=%d",
			f, dst, c.Removed, c.Emptied, c.Dummied, c.Cleaned, c.Remapped, c.Kept, c.Shifted)
		if res.Hold != "" {
			held++
			line += " HOLD: " + res.Hold
		}
		fmt.Fprintln(env.stdout, line)
	}
	secs := max(time.Since(start).Seconds(), 1e-9)
	done := len(files) - failed - skipped
	fmt.Fprintf(env.stdout, "total: %d files (%d failed, %d skipped, %d held), %.1f MB in %.2fs: %.1f files/s, %.1f MB/s\n",
		len(files), failed, skipped, held, float64(size)/1e6, secs, float64(done)/secs, float64(size)/1e6/secs)
	if failed > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d files failed", failed, len(files))}
	}
	return nil
}

// loadProfile reads the trial definition and the master secret and
// compiles the trial's profile. The secret is never printed.
func loadProfile(config, secretFile string) (*deid.Profile, error) {
	st, err := os.Stat(config)
	if err != nil {
		return nil, fmt.Errorf("deid: %w", err)
	}
	if st.Size() > maxDefinitionFile {
		return nil, exitError{code: 2, msg: fmt.Sprintf("%s is larger than %d bytes", config, maxDefinitionFile)}
	}
	data, err := os.ReadFile(config)
	if err != nil {
		return nil, fmt.Errorf("deid: %w", err)
	}
	def, err := trial.ParseDefinition(data)
	if err != nil {
		return nil, exitError{code: 1, msg: config + ": " + trialgate.ErrorMessage(err)}
	}
	// The same reading as serve's --deid-secret-file, so one file gives
	// the gateway's own UIDs and date shifts.
	secret, err := loadSecret(secretFile, false)
	if err != nil {
		return nil, exitError{code: 2, msg: "deid: " + err.Error()}
	}
	prof, err := deid.New(def.ID, def.Deid, deid.TrialKey(secret, def.ID))
	clear(secret)
	if err != nil {
		return nil, exitError{code: 1, msg: trialgate.ErrorMessage(err)}
	}
	return prof, nil
}

// input is one file to de-identify; walked is set for files found in a
// directory (which are skipped, not failed, when they are not DICOM).
type input struct {
	path   string
	walked bool
}

// inputs expands the arguments into regular files, directories walked
// recursively in lexical order, skipping the output directory so that a
// run never reads its own outputs.
func inputs(args []string, out string) ([]input, error) {
	outAbs, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	var files []input
	for _, a := range args {
		err := filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if abs, err := filepath.Abs(path); err == nil && abs == outAbs {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				files = append(files, input{path: path, walked: path != a})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// deidFile de-identifies one file into dir, through a temporary file
// renamed into place (a reader never sees a partial output). It returns
// the output path, the result and the input's size.
func deidFile(prof *deid.Profile, path, dir string, fallback deid.Subject) (string, *deid.Result, int64, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", nil, 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", nil, 0, err
	}
	obj, err := dicom.Parse(in, dicom.Limits{})
	if err != nil {
		return "", nil, 0, err
	}
	s := subjectOf(obj.Dataset, fallback)
	if s.Subject == "" {
		return "", nil, 0, errors.New("no subject code: the object has no (0012,0040) and --subject is not set")
	}
	res, err := prof.Apply(obj.Meta, obj.Dataset, s)
	if err != nil {
		return "", nil, 0, err
	}
	dst := filepath.Join(dir, res.SOPInstanceUID+".dcm")
	if old, err := os.Stat(dst); err == nil && os.SameFile(old, st) {
		return "", nil, 0, fmt.Errorf("output %s is the input itself", dst)
	}
	tmp, err := os.CreateTemp(dir, ".deid-*.tmp")
	if err != nil {
		return "", nil, 0, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	// Write buffers its output itself and streams Pixel Data from in.
	_, err = obj.Write(tmp, func(t *dicom.Dataset) error { return prof.Trailer(t, s, res) })
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return "", nil, 0, err
	}
	return dst, res, st.Size(), nil
}

// subjectOf places an object: each of site, subject and visit from the
// object's own Clinical Trial Subject/Study tags when present (the site
// wrote them), else from the flags.
func subjectOf(ds *dicom.Dataset, fallback deid.Subject) deid.Subject {
	pick := func(t dicom.Tag, flag string) string {
		if v := ds.String(t); v != "" {
			return v
		}
		return flag
	}
	return deid.Subject{
		Site:    pick(dicom.ClinicalTrialSiteID, fallback.Site),
		Subject: pick(dicom.ClinicalTrialSubjectID, fallback.Subject),
		Visit:   pick(dicom.ClinicalTrialTimePointID, fallback.Visit),
	}
}
