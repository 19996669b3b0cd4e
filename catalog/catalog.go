// Package catalog owns the stored, de-identified instances as their viewers
// see them: search (QIDO-RS), metadata and retrieval (WADO-RS), each behind
// a viewer Policy that says which instances a caller may see and how their
// attributes are rewritten on the way out. The trial's QC view (QCView) is
// one policy; the blinded reader view of a read task is another.
//
// Every search and every retrieval is recorded on the view's chain
// (dicomweb.queried, instance.retrieved) before its first byte leaves.
// Objects stream from the object store, verified against their SHA-256 as
// they go; a rewritten object has its header re-encoded and its Pixel Data
// copied byte for byte, never held in memory.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/storage"
)

// A Policy is one way of viewing a trial's stored instances.
type Policy interface {
	// Open checks that p may use the view named by ref (a trial id for the
	// QC view, a read task for a reader's) and returns what it shows. A
	// refusal is recorded (auth.Require, auth.Deny) naming target, what the
	// caller asked for, and returned as trialgate.EForbidden; a ref that
	// names nothing is ENotFound.
	Open(ctx context.Context, p *auth.Principal, ref string, target audit.Object) (*View, error)
}

// View is what one caller sees through a policy.
type View struct {
	// Scope names the trial (or a narrower part of it) on whose chain every
	// search and retrieval through the view is recorded.
	Scope db.Scope
	// Role is the role the caller uses, recorded with each access.
	Role auth.Role
	// States are the instance states the view shows: released, held.
	States []string
	// Submissions, when not nil, limits the view to those submissions (a
	// read task's case).
	Submissions []string
	// Rewrite, when not nil, rewrites the data set of every header on its
	// way out: in metadata answers, in search results (matching sees the
	// rewritten values), in rendered images and in retrieved objects,
	// before Pixel Data and after it. The catalogue then reads headers from
	// the stored objects rather than the stored metadata. It must keep the
	// Study, Series and SOP Instance UIDs, by which the catalogue finds
	// instances: de-identified UIDs already reveal nothing.
	Rewrite func(*dicom.Dataset) error
}

// Objects is what the catalogue reads of the object store.
type Objects interface {
	Stat(ctx context.Context, key string) (storage.Object, error)
	// Get returns the object's bytes, verified against its key as they are
	// read: a mismatch is a read error.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// Catalog searches and retrieves stored instances.
type Catalog struct {
	db     *db.DB
	store  Objects
	limits dicom.Limits
}

// New returns a catalogue over d's instances and their objects in store;
// limits bound the headers it parses for rewritten views.
func New(d *db.DB, store Objects, limits dicom.Limits) *Catalog {
	return &Catalog{db: d, store: store, limits: limits}
}

// Selection names what a retrieval is of: a study, a series of it, or one
// instance of that series (PS3.18 10.4.1 resources).
type Selection struct {
	Study, Series, Instance string
}

// validate refuses UIDs that could not name a stored instance: a path
// segment is outside input, and a malformed one is the client's error.
func (s Selection) validate() error {
	for _, uid := range []string{s.Study, s.Series, s.Instance} {
		if uid != "" && !dicom.ValidUID(uid) {
			return trialgate.Errorf(trialgate.EInvalid, "%q in the path is not a valid UID", clip(uid))
		}
	}
	return nil
}

// object is the audit object a selection names.
func (s Selection) object() audit.Object {
	switch {
	case s.Instance != "":
		return audit.Object{Type: "instance", ID: s.Instance}
	case s.Series != "":
		return audit.Object{Type: "series", ID: s.Series}
	}
	return audit.Object{Type: "study", ID: s.Study}
}

// what names the selection's resource in messages.
func (s Selection) what() string {
	switch {
	case s.Instance != "":
		return fmt.Sprintf("instance %s of series %s of study %s", s.Instance, s.Series, s.Study)
	case s.Series != "":
		return fmt.Sprintf("series %s of study %s", s.Series, s.Study)
	}
	return "study " + s.Study
}

// stored is one instance row of a view.
type stored struct {
	study, series, sop, sopClass, modality, status string
	syntax                                         string // the stored object's transfer syntax UID
	objectSHA                                      string
	size                                           int64
}

// key is the object store key of the row's object.
func (r *stored) key() (string, error) {
	var sum [sha256.Size]byte
	if n, err := hex.Decode(sum[:], []byte(r.objectSHA)); err != nil || n != len(sum) {
		return "", fmt.Errorf("catalog: instance %s: stored object hash %q is not SHA-256 hex", r.sop, r.objectSHA)
	}
	return storage.Key(sum), nil
}

// instances calls fn with each instance of the view within sel, in study,
// series, instance number order, and with its stored metadata when
// withMetadata (nil otherwise). fn must not keep the metadata it is handed
// beyond what it needs: a trial-wide search streams every header.
func (c *Catalog) instances(ctx context.Context, v *View, sel Selection, withMetadata bool, fn func(r stored, md []byte) error) error {
	where := []string{"trial_id = $1"}
	args := []any{v.Scope.Trial}
	param := func(val any) string {
		args = append(args, val)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(col string, vals []string) {
		ps := make([]string, len(vals))
		for i, val := range vals {
			ps[i] = param(val)
		}
		if len(ps) == 0 {
			where = append(where, "1 = 0")
			return
		}
		where = append(where, col+" IN ("+strings.Join(ps, ", ")+")")
	}
	for _, f := range []struct{ col, val string }{{"study_uid", sel.Study}, {"series_uid", sel.Series}, {"sop_uid", sel.Instance}} {
		if f.val != "" {
			where = append(where, f.col+" = "+param(f.val))
		}
	}
	in("status", v.States)
	if v.Submissions != nil {
		in("submission_id", v.Submissions)
	}
	meta := "''"
	if withMetadata {
		meta = "metadata"
	}
	query := `SELECT study_uid, series_uid, sop_uid, sop_class_uid, modality, status, transfer_syntax, object_sha256, object_size, ` +
		meta + ` FROM instances WHERE ` + strings.Join(where, " AND ") + ` ORDER BY study_uid, series_uid, instance_number, sop_uid`
	return c.db.Read(ctx, func(rd *db.Reader) error {
		rows, err := rd.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("catalog: search instances: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var st stored
			var md []byte
			if err := rows.Scan(&st.study, &st.series, &st.sop, &st.sopClass, &st.modality, &st.status, &st.syntax,
				&st.objectSHA, &st.size, &md); err != nil {
				return fmt.Errorf("catalog: read instance: %w", err)
			}
			if !withMetadata {
				md = nil
			}
			if err := fn(st, md); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// target is the audit object of a refused request for sel.
func (s Selection) target() audit.Object {
	return audit.Object{Type: "dicomweb", ID: s.object().String()}
}

// open checks sel, opens the view that policy gives p for ref, and returns
// it with the instances of sel in it (ENotFound when there are none).
func (c *Catalog) open(ctx context.Context, p *auth.Principal, policy Policy, ref string, sel Selection) (*View, []stored, error) {
	if err := sel.validate(); err != nil {
		return nil, nil, err
	}
	v, err := policy.Open(ctx, p, ref, sel.target())
	if err != nil {
		return nil, nil, err
	}
	rows, err := c.selected(ctx, v, sel)
	if err != nil {
		return nil, nil, err
	}
	return v, rows, nil
}

// selected returns the instances of the view within sel, refusing an
// empty selection as not found.
func (c *Catalog) selected(ctx context.Context, v *View, sel Selection) ([]stored, error) {
	var out []stored
	err := c.instances(ctx, v, sel, false, func(r stored, _ []byte) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, trialgate.Errorf(trialgate.ENotFound, "no %s in this view", sel.what())
	}
	return out, nil
}

// headers calls fn with each instance of the view within sel and, when
// withHeader, its header as the view shows it (nil otherwise). Stored
// metadata streams from the database; a rewriting view's headers are read
// from the objects once the rows are read, so that no object is fetched
// while a database read is open.
func (c *Catalog) headers(ctx context.Context, v *View, sel Selection, withHeader bool, fn func(r stored, md map[string]json.RawMessage) error) error {
	if !withHeader || v.Rewrite == nil {
		return c.instances(ctx, v, sel, withHeader, func(r stored, raw []byte) error {
			var md map[string]json.RawMessage
			if withHeader {
				var err error
				if md, err = c.metadata(ctx, v, &r, raw); err != nil {
					return err
				}
			}
			return fn(r, md)
		})
	}
	var rows []stored
	err := c.instances(ctx, v, sel, false, func(r stored, _ []byte) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return err
	}
	for i := range rows {
		md, err := c.metadata(ctx, v, &rows[i], nil)
		if err != nil {
			return err
		}
		if err := fn(rows[i], md); err != nil {
			return err
		}
	}
	return nil
}

// metadata returns the DICOM JSON of a row's header as the view shows it:
// the stored metadata (md, or read now when nil), or the rewritten header
// of the stored object.
func (c *Catalog) metadata(ctx context.Context, v *View, r *stored, md []byte) (map[string]json.RawMessage, error) {
	if v.Rewrite == nil {
		if md == nil {
			err := c.db.Read(ctx, func(rd *db.Reader) error {
				return rd.QueryRow(ctx, selectMetadata, v.Scope.Trial, r.sop).Scan(&md)
			})
			if err != nil {
				return nil, fmt.Errorf("catalog: read metadata of %s: %w", r.sop, err)
			}
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(md, &out); err != nil {
			return nil, fmt.Errorf("catalog: instance %s: stored metadata: %w", r.sop, err)
		}
		return out, nil
	}
	obj, closer, err := c.openObject(ctx, v, r)
	if err != nil {
		return nil, err
	}
	// Only the header is read: the object is not verified here, as it is
	// when retrieved whole.
	closer.Close()
	b, err := json.Marshal(obj.Dataset)
	if err != nil {
		return nil, fmt.Errorf("catalog: instance %s: metadata: %w", r.sop, err)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("catalog: instance %s: metadata: %w", r.sop, err)
	}
	return out, nil
}

const selectMetadata = `SELECT metadata FROM instances WHERE trial_id = $1 AND sop_uid = $2`

// openObject parses the header of a row's stored object and rewrites it
// for the view; the caller closes the object (or writes it out first).
func (c *Catalog) openObject(ctx context.Context, v *View, r *stored) (*dicom.Object, io.Closer, error) {
	key, err := r.key()
	if err != nil {
		return nil, nil, err
	}
	rc, err := c.store.Get(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	obj, err := dicom.Parse(rc, c.limits)
	if err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("catalog: instance %s: stored object: %w", r.sop, err)
	}
	if v.Rewrite != nil {
		if err := v.Rewrite(obj.Dataset); err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("catalog: instance %s: rewrite: %w", r.sop, err)
		}
	}
	return obj, rc, nil
}

// record records an access through the view, before anything is sent.
func (c *Catalog) record(ctx context.Context, p *auth.Principal, v *View, ev audit.Event) error {
	return c.db.Record(ctx, p.Actor(v.Role), v.Scope, ev)
}
