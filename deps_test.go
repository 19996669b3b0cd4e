// Package trialgate_test enforces the dependency rules of DESIGN.md section 2
// over the whole module.
package trialgate_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/trialgate/trialgate"

// imports maps each package directory to the imports of its non-test files.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, im := range f.Imports {
			out[dir] = append(out[dir], strings.Trim(im.Path.Value, `"`))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func under(dir string, roots ...string) bool {
	for _, r := range roots {
		if dir == r || strings.HasPrefix(dir, r+"/") {
			return true
		}
	}
	return false
}

func TestDependencyDirection(t *testing.T) {
	domain := []string{"audit", "auth", "trial", "deid", "qc", "reads", "lock", "dicom", "storage", "db", "ingest"}
	for dir, ims := range imports(t) {
		for _, im := range ims {
			if under(dir, domain...) && (strings.HasPrefix(im, module+"/api") || strings.HasPrefix(im, module+"/cmd")) {
				t.Errorf("%s imports %s: domain packages never import api or cmd", dir, im)
			}
		}
	}
}

// Each third-party library is confined to the one package that owns it.
func TestDriversConfined(t *testing.T) {
	owners := map[string][]string{
		"github.com/jackc/pgx":                {"db/postgres", "bench"},
		"modernc.org/sqlite":                  {"db/sqlite"},
		"github.com/minio/minio-go":           {"storage/s3"},
		"github.com/gin-gonic/gin":            {"api"},
		"github.com/prometheus/client_golang": {"api"},
		"github.com/suyashkumar/dicom":        {"dicom"},
		"github.com/gowebpki/jcs":             {"audit"},
		"golang.org/x/crypto/argon2":          {"auth"},
	}
	for dir, ims := range imports(t) {
		for _, im := range ims {
			for lib, allowed := range owners {
				if strings.HasPrefix(im, lib) && !under(dir, allowed...) {
					t.Errorf("%s imports %s; only %v may", dir, im, allowed)
				}
			}
		}
	}
}

// Only the pure audit package may be imported by db; audit itself does no
// database or network I/O.
func TestAuditIsPure(t *testing.T) {
	for _, im := range imports(t)["audit"] {
		if strings.HasPrefix(im, module) || im == "database/sql" || strings.HasPrefix(im, "net") || im == "os" {
			t.Errorf("audit imports %s", im)
		}
	}
}

// deid, qc and dicom do no I/O beyond the readers and writers they are
// handed (DESIGN.md section 2): no files, network or database.
func TestHeaderPackagesDoNoIO(t *testing.T) {
	all := imports(t)
	for _, pkg := range []string{"deid", "qc", "dicom"} {
		for _, im := range all[pkg] {
			if im == "os" || im == "database/sql" || strings.HasPrefix(im, "net") || strings.HasPrefix(im, "os/") ||
				strings.HasPrefix(im, module+"/db") || strings.HasPrefix(im, module+"/storage") {
				t.Errorf("%s imports %s", pkg, im)
			}
		}
	}
}
