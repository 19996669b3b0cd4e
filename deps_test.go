// Package trialgate_test enforces the dependency rules of DESIGN.md section 2
// over the whole module.
package trialgate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/trialgate/trialgate"

// listed is one package of the build as go list describes it.
type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string // of its non-test files
	Error      *struct{ Err string }
}

// graph is the import graph of the module's packages and of everything they
// import, directly or not, from their non-test files.
type graph map[string]listed

// loadGraph asks go list for the graph. It runs offline and leaves go.mod
// alone (GOPROXY=off, -mod=readonly, no toolchain switch): a dependency
// missing from the module cache is an error, never a download. go list
// applies the build constraints of this platform; the module has none today.
func loadGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports,Error", "./...")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list: decode: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		g[p.ImportPath] = p
	}
	if _, ok := g[module]; !ok {
		t.Fatalf("go list did not list the module root %s: is the test running from the module root?", module)
	}
	return g
}

// local returns a module package's path relative to the module ("." for
// the root) and whether p is a module package at all.
func local(p string) (string, bool) {
	if p == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(p, module+"/")
	return rel, ok
}

// name is how a failure message spells a package: module packages
// relative to the module, others in full.
func name(p string) string {
	if p == module {
		return module
	}
	if rel, ok := local(p); ok {
		return rel
	}
	return p
}

// packages returns the module's packages (relative paths) for which keep
// is true, sorted.
func (g graph) packages(keep func(rel string) bool) []string {
	var out []string
	for p := range g {
		if rel, ok := local(p); ok && keep(rel) {
			out = append(out, rel)
		}
	}
	slices.Sort(out)
	return out
}

// imports maps each module package (relative path) to its direct imports.
func (g graph) imports() map[string][]string {
	out := map[string][]string{}
	for p, pkg := range g {
		if rel, ok := local(p); ok {
			out[rel] = pkg.Imports
		}
	}
	return out
}

// reach returns the shortest import path from the module package rel to
// each package it reaches for which bad is true, in a stable order. The
// search stops at a bad package (what lies beyond it is its own affair) and
// at the standard library, whose packages import os and each other (fmt
// itself imports os): the rules are about what the module's code, and the
// libraries it chose, pull in.
func (g graph) reach(rel string, bad func(path string) bool) [][]string {
	from := module
	if rel != "." {
		from = module + "/" + rel
	}
	parent := map[string]string{from: ""}
	queue := []string{from}
	var found [][]string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p != from && bad(p) {
			var path []string
			for q := p; q != ""; q = parent[q] {
				path = append(path, q)
			}
			slices.Reverse(path)
			found = append(found, path)
			continue
		}
		if p != from && g[p].Standard {
			continue
		}
		for _, im := range g[p].Imports {
			if _, seen := parent[im]; !seen {
				parent[im] = p
				queue = append(queue, im)
			}
		}
	}
	return found
}

// A reachRule forbids some packages of the module from reaching, through
// any path, the packages bad picks.
type reachRule struct {
	name string
	from func(rel string) bool
	bad  func(path string) bool
}

// check reports every path that breaks r, as A -> B -> C. A rule that
// applies to no package is an error: it would pass without checking
// anything (a renamed package, a package list out of date).
func (r reachRule) check(t *testing.T, g graph) {
	t.Helper()
	pkgs := g.packages(r.from)
	if len(pkgs) == 0 {
		t.Errorf("%s: the rule applies to no package of the module", r.name)
	}
	for _, rel := range pkgs {
		for _, path := range g.reach(rel, r.bad) {
			names := make([]string, len(path))
			for i, p := range path {
				names[i] = name(p)
			}
			t.Errorf("%s: %s", r.name, strings.Join(names, " -> "))
		}
	}
}

func under(dir string, roots ...string) bool {
	for _, r := range roots {
		if dir == r || strings.HasPrefix(dir, r+"/") {
			return true
		}
	}
	return false
}

// underModule reports whether path is a module package under one of roots.
func underModule(path string, roots ...string) bool {
	rel, ok := local(path)
	return ok && under(rel, roots...)
}

// inLibrary reports whether path is one of libs or a package under one.
func inLibrary(path string, libs ...string) bool {
	for _, l := range libs {
		if path == l || strings.HasPrefix(path, l+"/") {
			return true
		}
	}
	return false
}

// domainRoots are the roots of the domain packages (DESIGN.md section 2),
// some not written yet (reads, lock, catalog): a root with no package
// constrains nothing until it appears. Every package under them is a domain
// package, except that the driver rules exempt the backends that own a
// driver by name.
func domainRoots() []string {
	return []string{"audit", "auth", "trial", "deid", "qc", "reads", "lock", "dicom", "storage", "db", "ingest", "catalog"}
}

// Domain packages and the backends under them never depend on the layers
// above them, through any path; no domain package reaches a database or
// object-store driver except the backend that owns it (and the test helpers
// that open that backend); the root package, which every package may
// import, imports nothing of the module.
func TestDependencyDirection(t *testing.T) {
	g := loadGraph(t)
	domain := domainRoots()
	rules := []reachRule{
		{
			name: "domain packages never reach api or cmd",
			from: func(rel string) bool { return under(rel, domain...) },
			bad:  func(p string) bool { return underModule(p, "api", "cmd") },
		},
		{
			name: "the root package imports nothing of the module",
			from: func(rel string) bool { return rel == "." },
			bad:  func(p string) bool { _, ok := local(p); return ok },
		},
	}
	drivers := []struct {
		lib    string
		owners []string
	}{
		{"github.com/jackc/pgx", []string{"db/postgres", "db/dbtest"}}, // db/postgres/pgtest is under db/postgres
		{"modernc.org/sqlite", []string{"db/sqlite", "db/dbtest"}},
		{"github.com/minio/minio-go", []string{"storage/s3"}},
	}
	for _, d := range drivers {
		rules = append(rules, reachRule{
			name: fmt.Sprintf("only %v reach %s", d.owners, d.lib),
			from: func(rel string) bool { return under(rel, domain...) && !under(rel, d.owners...) },
			bad:  func(p string) bool { return inLibrary(p, d.lib) },
		})
	}
	for _, r := range rules {
		r.check(t, g)
	}
}

// Each third-party library is imported directly only by the one package
// that owns it.
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
	for dir, ims := range loadGraph(t).imports() {
		for _, im := range ims {
			for lib, allowed := range owners {
				if inLibrary(im, lib) && !under(dir, allowed...) {
					t.Errorf("%s imports %s; only %v may", dir, im, allowed)
				}
			}
		}
	}
}

// doesIO reports whether importing path gives a package files, processes,
// the network or a database.
func doesIO(path string) bool {
	return path == "os" || strings.HasPrefix(path, "os/") || strings.HasPrefix(path, "net") ||
		path == "syscall" || inLibrary(path, "database/sql")
}

// Only the pure audit package may be imported by db: audit reaches no other
// package of the module (the root's shared vocabulary aside) and does no
// database, file or network I/O, through any path. Its service beside it
// (audit/trail), which applies the access policy over the stored trail, is
// a domain package like the others.
func TestAuditIsPure(t *testing.T) {
	reachRule{
		name: "audit is pure",
		from: func(rel string) bool { return rel == "audit" },
		bad: func(p string) bool {
			_, mod := local(p)
			return (mod && p != module) || doesIO(p)
		},
	}.check(t, loadGraph(t))
}

// deid, qc and dicom do no I/O beyond the readers and writers they are
// handed (DESIGN.md section 2): no files, network or database, and none of
// the module's database or storage packages, through any path.
func TestHeaderPackagesDoNoIO(t *testing.T) {
	reachRule{
		name: "deid, qc and dicom do no I/O",
		from: func(rel string) bool { return under(rel, "deid", "qc", "dicom") },
		bad:  func(p string) bool { return doesIO(p) || underModule(p, "db", "storage") },
	}.check(t, loadGraph(t))
}
