package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// realFiles returns the directory of the real test files.
func realFiles(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "real")
	if _, err := os.Stat(filepath.Join(dir, "1.dcm")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return dir
}

const deidTrial = `{"id":"T1","name":"Trial One","sites":[{"id":"S1","name":"One"}],"visits":[{"id":"BL","label":"Baseline"}],
 "deid":{"options":["retain_long_modified_dates","clean_descriptors"]},"qc":{"rules":[]},
 "reads":{"design":"single","form":{"fields":[{"id":"x","type":"text","required":false}]}}}`

// gateway deid de-identifies the real files (one of them given twice:
// once by name, once through its directory), writes one output per
// instance, reports each file and a total, and names the files it could
// not process while processing the rest.
func TestDeidCmd(t *testing.T) {
	ctx := context.Background()
	real := realFiles(t)
	tmp := t.TempDir()
	write := func(name string, body []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "0123456789abcdef0123456789abcdef-secret"
	cfg := write("trial.json", []byte(deidTrial))
	sec := write("secret", []byte(secret))
	bad := write("bad.dcm", []byte("not a DICOM file at all"))
	out := filepath.Join(tmp, "out")
	env := map[string]string{"GATEWAY_SUBJECT": "SUBJ-1"} // flags read the environment too
	getenv := func(k string) string { return env[k] }

	var stdout, stderr bytes.Buffer
	args := []string{"deid", "--config", cfg, "--secret-file", sec, "--out", out, "--site", "S1", "--visit", "BL"}
	err := run(ctx, append(args, real, bad), getenv, nil, &stdout, &stderr)
	var ex exitError
	if !errors.As(err, &ex) || ex.code != 1 {
		t.Fatalf("run: %v (want exit status 1 for the bad file)\nstderr: %s", err, stderr.String())
	}
	// The notes in the directory are skipped; the bad file named on the
	// command line fails.
	if !strings.Contains(stderr.String(), "deid: "+bad+": ") || strings.Count(stderr.String(), "skipped: not DICOM\n") != 2 {
		t.Errorf("stderr %q: want the skipped notes and a line naming %s", stderr.String(), bad)
	}
	if strings.Contains(stdout.String()+stderr.String()+ex.msg, secret) {
		t.Error("the secret was printed")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[6], "total: 9 files (1 failed, 2 skipped, 1 held)") || !strings.Contains(lines[6], "MB/s") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
	for i, name := range []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"} {
		in := filepath.Join(real, name)
		if !strings.HasPrefix(lines[i], in+" -> "+out+string(filepath.Separator)) || !strings.Contains(lines[i], " removed=") {
			t.Errorf("line %d: %q", i, lines[i])
			continue
		}
		dst := strings.Fields(strings.TrimPrefix(lines[i], in+" -> "))[0]
		ds := parseFile(t, dst)
		// A visit the file carries wins over the flag (1.dcm and 2.dcm
		// come from a trial and carry theirs).
		wantVisit := parseFile(t, in).String(dicom.ClinicalTrialTimePointID)
		if wantVisit == "" {
			wantVisit = "BL"
		}
		if got := ds.String(dicom.SOPInstanceUID) + ".dcm"; filepath.Base(dst) != got || !strings.HasPrefix(got, "2.25.") {
			t.Errorf("%s holds %s", dst, got)
		}
		if ds.String(dicom.ClinicalTrialSubjectID) != "SUBJ-1" || ds.String(dicom.ClinicalTrialSiteID) != "S1" ||
			ds.String(dicom.ClinicalTrialTimePointID) != wantVisit || ds.String(dicom.ClinicalTrialProtocolID) != "T1" {
			t.Errorf("%s: trial tags %q %q %q", dst, ds.String(dicom.ClinicalTrialSiteID), ds.String(dicom.ClinicalTrialSubjectID), ds.String(dicom.ClinicalTrialTimePointID))
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) != 6 {
		t.Errorf("%d outputs (%v), want 6 and no temporary file", len(entries), err)
	}

	// Same key, same input: the same bytes (a second run replaces its own
	// outputs with identical ones).
	first, _ := os.ReadFile(filepath.Join(out, entries[0].Name()))
	stdout.Reset()
	if err := run(ctx, append(args, real), getenv, nil, &stdout, &stderr); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if again, _ := os.ReadFile(filepath.Join(out, entries[0].Name())); !bytes.Equal(first, again) {
		t.Error("output differs between runs")
	}

	// Without a subject code (none in the files, no flag) every file fails.
	stderr.Reset()
	err = run(ctx, []string{"deid", "--config", cfg, "--secret-file", sec, "--out", out, filepath.Join(real, "3.dcm")},
		func(string) string { return "" }, nil, &stdout, &stderr)
	if !errors.As(err, &ex) || ex.code != 1 || !strings.Contains(stderr.String(), "no subject code") {
		t.Errorf("no subject: %v, %q", err, stderr.String())
	}
}

// parseFile parses the header of a DICOM file.
func parseFile(t *testing.T, path string) *dicom.Dataset {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := dicom.Parse(f, dicom.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return o.Dataset
}

// The secret file is required and must be long enough.
func TestDeidCmdFlags(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	cfg := filepath.Join(tmp, "trial.json")
	short := filepath.Join(tmp, "short")
	if err := os.WriteFile(cfg, []byte(deidTrial), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for name, args := range map[string][]string{
		"no secret":    {"deid", "--config", cfg, "--out", tmp, "x.dcm"},
		"short secret": {"deid", "--config", cfg, "--secret-file", short, "--out", tmp, "x.dcm"},
		"no input":     {"deid", "--config", cfg, "--secret-file", short, "--out", tmp},
	} {
		err := run(ctx, args, func(string) string { return "" }, nil, &out, &out)
		var ex exitError
		if !errors.As(err, &ex) || ex.code != 2 {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(out.String()+err.Error(), "too short") {
			t.Errorf("%s: the secret was printed", name)
		}
	}
}
