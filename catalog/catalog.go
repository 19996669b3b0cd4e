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
	"net/url"
	"slices"
	"strconv"
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
	// way out: in metadata answers, in search results, and in retrieved
	// objects, before Pixel Data and after it. The catalogue then reads
	// headers from the stored objects rather than the stored metadata, and
	// keeps each object's meta group consistent with the rewritten SOP
	// Class and Instance UIDs.
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

// Level is a QIDO-RS query level.
type Level int

// The query levels.
const (
	StudyLevel Level = iota
	SeriesLevel
	InstanceLevel
)

// Query is a QIDO-RS search: the path's UIDs, the matching keys and paging.
type Query struct {
	Level         Level
	Study, Series string // from the path
	Match         map[string]string
	Limit, Offset int
}

// The attributes each level returns (PS3.18 Table 10.6.3-3..5), as DICOM
// JSON tags, besides the counts and RetrieveURL computed here.
var levelTags = [][]string{
	StudyLevel: {"00080005", "00080020", "00080030", "00080050", "00080090", "00100010", "00100020", "00100030",
		"00100040", "0020000D", "00200010", "00081030", "00120010", "00120020", "00120030", "00120040", "00120050"},
	SeriesLevel: {"00080005", "00080060", "0008103E", "0020000E", "00200011", "00400244", "00400245", "0020000D"},
	InstanceLevel: {"00080005", "00080016", "00080018", "00200013", "00280010", "00280011", "00280100", "00280008",
		"0020000D", "0020000E", "00280301"},
}

// queryKeys maps the matching keys QIDO-RS accepts here (keyword or tag)
// to their column.
var queryKeys = map[string]string{
	"StudyInstanceUID": "study_uid", "0020000D": "study_uid",
	"SeriesInstanceUID": "series_uid", "0020000E": "series_uid",
	"SOPInstanceUID": "sop_uid", "00080018": "sop_uid",
	"Modality": "modality", "00080060": "modality",
	"SOPClassUID": "sop_class_uid", "00080016": "sop_class_uid",
}

// ParseQuery reads QIDO-RS query parameters. Unknown matching keys are
// refused by name rather than silently ignored: a search that quietly
// matches everything would mislead.
func ParseQuery(level Level, study, series string, v url.Values) (Query, error) {
	q := Query{Level: level, Study: study, Series: series, Match: map[string]string{}, Limit: 1000}
	for k, vals := range v {
		val := vals[len(vals)-1]
		switch k {
		case "limit", "offset":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return Query{}, trialgate.Errorf(trialgate.EInvalid, "%s: %q is not a non-negative integer", k, val)
			}
			if k == "limit" {
				q.Limit = min(max(n, 1), 10000)
			} else {
				q.Offset = n
			}
		case "includefield", "fuzzymatching":
			// Every level's attributes are returned; fuzzy matching does
			// not apply to UIDs and codes.
		default:
			col, ok := queryKeys[k]
			if !ok {
				return Query{}, trialgate.Errorf(trialgate.EInvalid, "query key %q is not supported (supported: StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, Modality, SOPClassUID, limit, offset)", k)
			}
			q.Match[col] = val
		}
	}
	return q, nil
}

// stored is one instance row of a view.
type stored struct {
	study, series, sop, modality, status string
	objectSHA                            string
	metadata                             map[string]json.RawMessage
}

// key is the object store key of the row's object.
func (r *stored) key() (string, error) {
	var sum [sha256.Size]byte
	if n, err := hex.Decode(sum[:], []byte(r.objectSHA)); err != nil || n != len(sum) {
		return "", fmt.Errorf("catalog: instance %s: stored object hash %q is not SHA-256 hex", r.sop, r.objectSHA)
	}
	return storage.Key(sum), nil
}

// instances reads the instances of the view matching q, with their stored
// metadata when withMetadata (searches read it only for the page they
// return).
func (c *Catalog) instances(ctx context.Context, v *View, q Query, withMetadata bool) ([]stored, error) {
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
	if q.Study != "" {
		where = append(where, "study_uid = "+param(q.Study))
	}
	if q.Series != "" {
		where = append(where, "series_uid = "+param(q.Series))
	}
	cols := make([]string, 0, len(q.Match))
	for col := range q.Match {
		cols = append(cols, col)
	}
	slices.Sort(cols)
	for _, col := range cols {
		where = append(where, col+" = "+param(q.Match[col]))
	}
	in("status", v.States)
	if v.Submissions != nil {
		in("submission_id", v.Submissions)
	}
	meta := "''"
	if withMetadata {
		meta = "metadata"
	}
	query := `SELECT study_uid, series_uid, sop_uid, modality, status, object_sha256, ` + meta + ` FROM instances WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY study_uid, series_uid, instance_number, sop_uid`
	var out []stored
	err := c.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("catalog: search instances: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var st stored
			var meta []byte
			if err := rows.Scan(&st.study, &st.series, &st.sop, &st.modality, &st.status, &st.objectSHA, &meta); err != nil {
				return fmt.Errorf("catalog: read instance: %w", err)
			}
			if withMetadata {
				if err := json.Unmarshal(meta, &st.metadata); err != nil {
					return fmt.Errorf("catalog: instance %s: stored metadata: %w", st.sop, err)
				}
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	return out, err
}

// metadata returns the DICOM JSON of a row's header as the view shows it:
// the stored metadata, or the rewritten header of the stored object.
func (c *Catalog) metadata(ctx context.Context, v *View, r *stored) (map[string]json.RawMessage, error) {
	if v.Rewrite == nil {
		return r.metadata, nil
	}
	obj, closer, err := c.open(ctx, v, r)
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
	var md map[string]json.RawMessage
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("catalog: instance %s: metadata: %w", r.sop, err)
	}
	return md, nil
}

// open parses the header of a row's stored object and rewrites it for the
// view; the caller closes the object (or writes it out first).
func (c *Catalog) open(ctx context.Context, v *View, r *stored) (*dicom.Object, io.Closer, error) {
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
	if err := v.Rewrite(obj.Dataset); err != nil {
		rc.Close()
		return nil, nil, fmt.Errorf("catalog: instance %s: rewrite: %w", r.sop, err)
	}
	// The meta group names the instance the data set is.
	obj.Meta.SetString(dicom.MediaStorageSOPClassUID, "UI", obj.Dataset.String(dicom.SOPClassUID))
	obj.Meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", obj.Dataset.String(dicom.SOPInstanceUID))
	return obj, rc, nil
}

// record records an access through the view, before anything is sent.
func (c *Catalog) record(ctx context.Context, p *auth.Principal, v *View, ev audit.Event) error {
	return c.db.Record(ctx, p.Actor(v.Role), v.Scope, ev)
}

// Search runs a QIDO-RS search of the view that policy opens for ref and
// returns the matches as DICOM JSON objects. base is the URL prefix of the
// view's DICOMweb service, for RetrieveURL.
func (c *Catalog) Search(ctx context.Context, p *auth.Principal, policy Policy, ref string, q Query, base string) ([]map[string]any, error) {
	object := audit.Object{Type: "dicomweb", ID: "view/" + ref}
	if q.Study != "" {
		object.ID = "study/" + q.Study
	}
	v, err := policy.Open(ctx, p, ref, object)
	if err != nil {
		return nil, err
	}
	rows, err := c.instances(ctx, v, q, false)
	if err != nil {
		return nil, err
	}
	groups := group(rows, q.Level)
	total := len(groups)
	groups = groups[min(q.Offset, len(groups)):]
	groups = groups[:min(q.Limit, len(groups))]
	metadata, err := c.metadataOf(ctx, v, groups)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(groups))
	for i, g := range groups {
		out[i] = g.object(q.Level, metadata[g.first.sop], base)
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionStudiesQueried, Object: object,
		After: map[string]any{"level": []string{"study", "series", "instance"}[q.Level], "match": q.Match,
			"results": len(out), "total": total}})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// match is one study, series or instance of a search, folded from its
// instance rows.
type match struct {
	first      stored // the first instance: its metadata gives the level's attributes
	series     map[string]bool
	instances  int
	modalities []string
}

// group folds instance rows into one match per study, series or instance,
// in row order.
func group(rows []stored, level Level) []*match {
	var out []*match
	index := map[string]*match{}
	for _, r := range rows {
		key := r.study
		switch level {
		case SeriesLevel:
			key = r.series
		case InstanceLevel:
			key = r.sop
		}
		m := index[key]
		if m == nil {
			m = &match{first: r, series: map[string]bool{}}
			index[key] = m
			out = append(out, m)
		}
		m.series[r.series] = true
		m.instances++
		if r.modality != "" && !slices.Contains(m.modalities, r.modality) {
			m.modalities = append(m.modalities, r.modality)
		}
	}
	return out
}

// object is the DICOM JSON of a match: the level's attributes from the
// first instance's metadata, the counts, and its RetrieveURL.
func (m *match) object(level Level, metadata map[string]json.RawMessage, base string) map[string]any {
	o := map[string]any{}
	for _, t := range levelTags[level] {
		if v, ok := metadata[t]; ok {
			o[t] = v
		}
	}
	r := m.first
	url := base + "/studies/" + r.study
	if level >= SeriesLevel {
		url += "/series/" + r.series
	}
	if level == InstanceLevel {
		url += "/instances/" + r.sop
	}
	o["00081190"] = dicomValue("UR", url)
	switch level {
	case StudyLevel:
		o["00080061"] = dicomValue("CS", m.modalities...)
		o["00201206"] = dicomNumber("IS", len(m.series))
		o["00201208"] = dicomNumber("IS", m.instances)
	case SeriesLevel:
		o["00201209"] = dicomNumber("IS", m.instances)
	}
	return o
}

// metadataOf reads the metadata of each match's first instance, as the
// view shows it.
func (c *Catalog) metadataOf(ctx context.Context, v *View, ms []*match) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	if v.Rewrite != nil {
		for _, m := range ms {
			md, err := c.metadata(ctx, v, &m.first)
			if err != nil {
				return nil, err
			}
			out[m.first.sop] = md
		}
		return out, nil
	}
	err := c.db.Read(ctx, func(r *db.Reader) error {
		for _, m := range ms {
			var raw []byte
			if err := r.QueryRow(ctx, selectMetadata, v.Scope.Trial, m.first.sop).Scan(&raw); err != nil {
				return fmt.Errorf("catalog: read metadata of %s: %w", m.first.sop, err)
			}
			var md map[string]json.RawMessage
			if err := json.Unmarshal(raw, &md); err != nil {
				return fmt.Errorf("catalog: instance %s: stored metadata: %w", m.first.sop, err)
			}
			out[m.first.sop] = md
		}
		return nil
	})
	return out, err
}

const selectMetadata = `SELECT metadata FROM instances WHERE trial_id = $1 AND sop_uid = $2`

type jsonValue struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value,omitempty"`
}

func dicomValue(vr string, vs ...string) jsonValue {
	v := jsonValue{VR: vr}
	for _, s := range vs {
		v.Value = append(v.Value, s)
	}
	return v
}

func dicomNumber(vr string, n int) jsonValue { return jsonValue{VR: vr, Value: []any{n}} }

// Metadata returns the DICOM JSON metadata of every instance of a series
// (WADO-RS) in the view that policy opens for ref, recorded as a
// retrieval.
func (c *Catalog) Metadata(ctx context.Context, p *auth.Principal, policy Policy, ref, study, series string) ([]map[string]json.RawMessage, error) {
	v, err := policy.Open(ctx, p, ref, audit.Object{Type: "dicomweb", ID: "series/" + series})
	if err != nil {
		return nil, err
	}
	rows, err := c.instances(ctx, v, Query{Study: study, Series: series}, v.Rewrite == nil)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, trialgate.Errorf(trialgate.ENotFound, "no series %s in study %s of this view", series, study)
	}
	out := make([]map[string]json.RawMessage, len(rows))
	for i := range rows {
		if out[i], err = c.metadata(ctx, v, &rows[i]); err != nil {
			return nil, err
		}
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved,
		Object: audit.Object{Type: "series", ID: series}, After: map[string]any{"what": "metadata", "instances": len(rows)}})
	return out, err
}

// Retrieve opens one instance (WADO-RS) of the view that policy opens for
// ref, recorded as a retrieval before any byte is sent. The reader verifies
// the stored object's hash as it is read, and fails on a mismatch. size is
// the object's length, or -1 when the view rewrites it.
func (c *Catalog) Retrieve(ctx context.Context, p *auth.Principal, policy Policy, ref, study, series, sop string) (rc io.ReadCloser, size int64, err error) {
	v, err := policy.Open(ctx, p, ref, audit.Object{Type: "dicomweb", ID: "instance/" + sop})
	if err != nil {
		return nil, 0, err
	}
	rows, err := c.instances(ctx, v, Query{Study: study, Series: series, Match: map[string]string{"sop_uid": sop}}, false)
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return nil, 0, trialgate.Errorf(trialgate.ENotFound, "no instance %s in series %s of study %s", sop, series, study)
	}
	r := &rows[0]
	key, err := r.key()
	if err != nil {
		return nil, 0, err
	}
	o, err := c.store.Stat(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if err := c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved,
		Object: audit.Object{Type: "instance", ID: sop}, After: map[string]any{"what": "instance", "object_sha256": r.objectSHA}}); err != nil {
		return nil, 0, err
	}
	if v.Rewrite == nil {
		rc, err := c.store.Get(ctx, key)
		return rc, o.Size, err
	}
	obj, closer, err := c.open(ctx, v, r)
	if err != nil {
		return nil, 0, err
	}
	return rewritten(obj, closer, v.Rewrite), -1, nil
}

// rewritten streams obj (its header already rewritten) through a pipe:
// the header re-encoded, Pixel Data copied from the stored object, the
// elements after it rewritten too.
func rewritten(obj *dicom.Object, src io.Closer, rewrite func(*dicom.Dataset) error) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		_, err := obj.Write(pw, rewrite)
		src.Close()
		pw.CloseWithError(err)
	}()
	return pr
}
