package lock

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialgate/trialgate/db"
)

// Leaf is one record of a lock's manifest: what it is (Kind), which one
// (Ref), its state when the lock was applied (Value) and its RFC 6962 leaf
// hash, SHA-256(0x00 || LeafData(Kind, Ref, Value)), in hex.
//
// Kinds and values:
//
//	instance    instance/<SOP Instance UID>   <object sha256> <status> <submission>
//	submission  submission/<id>               <status> <qc run> <sha256 of the decision reason>
//	read        read/<task>/<version>         <record sha256> <signer id>
//	case        case/<id>                     <status> <outcome source> <outcome task> <outcome version>
//
// Instances are the stored (de-identified) objects by content hash; a
// submission's status and QC run stand for its QC evaluations and decision;
// read versions are every signed read and adjudication; a case's outcome
// says which read settled it.
type Leaf struct {
	Kind  string `json:"kind"`
	Ref   string `json:"ref"`
	Value string `json:"value"`
	Hash  string `json:"hash"`
}

// LeafData returns the bytes a leaf hashes: a fixed prefix and the three
// fields, one per line.
func LeafData(kind, ref, value string) []byte {
	return []byte("trialgate-lock-leaf/v1\n" + kind + "\n" + ref + "\n" + value + "\n")
}

func newLeaf(kind, ref, value string) Leaf {
	h := tlog.RecordHash(LeafData(kind, ref, value))
	return Leaf{Kind: kind, Ref: ref, Value: value, Hash: hex.EncodeToString(h[:])}
}

// Root returns the hex RFC 6962 Merkle tree hash of the leaves, in order;
// the hash of the empty tree (SHA-256 of nothing) when there are none.
func Root(leaves []Leaf) (string, error) {
	hs := make([]tlog.Hash, len(leaves))
	for i, l := range leaves {
		b, err := hex.DecodeString(l.Hash)
		if err != nil || len(b) != tlog.HashSize {
			return "", fmt.Errorf("lock: leaf %d (%s): bad hash %q", i, l.Ref, l.Hash)
		}
		copy(hs[i][:], b)
	}
	r := treeHash(hs)
	return hex.EncodeToString(r[:]), nil
}

// treeHash is RFC 6962's MTH: the empty tree hashes to SHA-256(""), one
// leaf to itself, and n > 1 leaves to the node hash of the tree of the
// largest power of two below n and the tree of the rest.
func treeHash(hs []tlog.Hash) tlog.Hash {
	switch len(hs) {
	case 0:
		return tlog.Hash(sha256.Sum256(nil))
	case 1:
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	return tlog.NodeHash(treeHash(hs[:k]), treeHash(hs[k:]))
}

// Selects of the records in a scope: $1 trial, $2 site, $3 subject, $4
// visit, ” meaning any. A subject case (visit ”) spans every visit of its
// subject, so a visit's scope includes it.
const (
	selectInstances = `SELECT i.sop_uid, i.object_sha256, i.status, i.submission_id
		FROM instances i JOIN submissions s ON s.id = i.submission_id
		WHERE s.trial_id = $1 AND ($2 = '' OR s.site = $2) AND ($3 = '' OR s.subject = $3) AND ($4 = '' OR s.visit = $4)`
	selectSubmissions = `SELECT id, status, qc_run, decision_reason FROM submissions
		WHERE trial_id = $1 AND ($2 = '' OR site = $2) AND ($3 = '' OR subject = $3) AND ($4 = '' OR visit = $4)`
	selectCases = `SELECT id, status, outcome_source, outcome_task, outcome_version FROM read_cases
		WHERE trial_id = $1 AND ($2 = '' OR site = $2) AND ($3 = '' OR subject = $3) AND ($4 = '' OR visit = $4 OR visit = '')`
	selectReadVersions = `SELECT v.task_id, v.version, v.record_sha256, v.signer_id
		FROM read_versions v JOIN read_cases c ON c.id = v.case_id
		WHERE c.trial_id = $1 AND ($2 = '' OR c.site = $2) AND ($3 = '' OR c.subject = $3) AND ($4 = '' OR c.visit = $4 OR c.visit = '')`
)

// queryFunc is what the manifest reads through: a read transaction's
// Query, or the lock's own write transaction's.
type queryFunc func(ctx context.Context, query string, args ...any) (*sql.Rows, error)

// manifest collects the leaves of everything in scope, in a fixed order:
// by kind (instance, submission, read, case), then bytewise by ref.
func manifest(ctx context.Context, query queryFunc, scope db.Scope) ([]Leaf, error) {
	args := []any{scope.Trial, scope.Site, scope.Subject, scope.Visit}
	var leaves []Leaf
	each := func(what, sel string, scan func(*sql.Rows) (Leaf, error)) error {
		rows, err := query(ctx, sel, args...)
		if err != nil {
			return fmt.Errorf("lock: manifest: %s: %w", what, err)
		}
		defer rows.Close()
		from := len(leaves)
		defer func() {
			// Sorted here, bytewise, not by the database's collation: the
			// root must not depend on the backend or its locale.
			slices.SortFunc(leaves[from:], func(a, b Leaf) int { return strings.Compare(a.Ref, b.Ref) })
		}()
		for rows.Next() {
			l, err := scan(rows)
			if err != nil {
				return fmt.Errorf("lock: manifest: %s: %w", what, err)
			}
			leaves = append(leaves, l)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock: manifest: %s: %w", what, err)
		}
		return nil
	}
	err := each("instances", selectInstances, func(r *sql.Rows) (Leaf, error) {
		var sop, sum, status, sub string
		err := r.Scan(&sop, &sum, &status, &sub)
		return newLeaf("instance", "instance/"+sop, sum+" "+status+" "+sub), err
	})
	if err == nil {
		err = each("submissions", selectSubmissions, func(r *sql.Rows) (Leaf, error) {
			var id, status, reason string
			var run int64
			err := r.Scan(&id, &status, &run, &reason)
			sum := sha256.Sum256([]byte(reason))
			return newLeaf("submission", "submission/"+id, status+" "+strconv.FormatInt(run, 10)+" "+hex.EncodeToString(sum[:])), err
		})
	}
	if err == nil {
		err = each("read versions", selectReadVersions, func(r *sql.Rows) (Leaf, error) {
			var task, sum, signer string
			var v int64
			err := r.Scan(&task, &v, &sum, &signer)
			return newLeaf("read", "read/"+task+"/"+strconv.FormatInt(v, 10), sum+" "+signer), err
		})
	}
	if err == nil {
		err = each("cases", selectCases, func(r *sql.Rows) (Leaf, error) {
			var id, status, source, task string
			var v int64
			err := r.Scan(&id, &status, &source, &task, &v)
			return newLeaf("case", "case/"+id, strings.Join([]string{status, source, task, strconv.FormatInt(v, 10)}, " ")), err
		})
	}
	return leaves, err
}

// Comparison is a re-verification of a lock's manifest against the data
// now in its scope.
type Comparison struct {
	Lock     string   `json:"lock"`
	OK       bool     `json:"ok"`
	Root     string   `json:"root"`     // recorded when the lock was applied
	RootNow  string   `json:"root_now"` // of the scope's records now
	Leaves   int      `json:"leaves"`
	Checked  string   `json:"checked_at"`
	Changed  []string `json:"changed,omitempty"` // refs whose value differs
	Added    []string `json:"added,omitempty"`   // refs in scope now, not in the manifest
	Removed  []string `json:"removed,omitempty"` // refs in the manifest, gone now
	Released bool     `json:"released"`          // the lock no longer holds: changes since its release are expected
}

// compare reports how now differs from the recorded leaves.
func compare(recorded, now []Leaf) (changed, added, removed []string) {
	was := make(map[string]Leaf, len(recorded))
	for _, l := range recorded {
		was[l.Ref] = l
	}
	for _, l := range now {
		old, ok := was[l.Ref]
		switch {
		case !ok:
			added = append(added, l.Ref)
		case old.Hash != l.Hash:
			changed = append(changed, l.Ref)
		}
		delete(was, l.Ref)
	}
	for _, l := range recorded {
		if _, gone := was[l.Ref]; gone {
			removed = append(removed, l.Ref)
		}
	}
	return changed, added, removed
}
