package ingest

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
	"github.com/trialgate/trialgate/storage"
)

// The trial's QC view (QIDO-RS and WADO-RS under /dicomweb/trials/{trial}):
// de-identified objects only, for the trial's QC reviewers (who also see
// instances held for burned-in text review: reviewing them is their job)
// and data managers (released instances only). Every search and every
// retrieval is audited.

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

// viewer checks that p may use the trial's QC view and returns the role
// used and the instance states it sees.
func (s *Service) viewer(ctx context.Context, p *auth.Principal, trialID, object string) (auth.Role, []string, error) {
	role, ok := p.Allows(trialID, "", auth.QCReviewer, auth.DataManager)
	if !ok {
		msg := "only the trial's QC reviewers and data managers may view its images"
		ev := audit.Event{Action: audit.ActionAccessDenied, Outcome: audit.Denied, Trial: trialID,
			Object: audit.Object{Type: "dicomweb", ID: object}, Reason: msg}
		if err := s.db.Record(ctx, p.Actor(""), ev); err != nil {
			return "", nil, err
		}
		return "", nil, trialgate.Errorf(trialgate.EForbidden, "%s", msg)
	}
	if role == auth.QCReviewer {
		return role, []string{"released", "held"}, nil
	}
	return role, []string{"released"}, nil
}

// stored is one instance row of the view.
type stored struct {
	study, series, sop, modality, status string
	objectSHA                            string
	metadata                             map[string]json.RawMessage
}

// instances reads the instances of a trial matching q, with their
// metadata when withMetadata (searches read it only for the page they
// return).
func (s *Service) instances(ctx context.Context, trialID string, states []string, q Query, withMetadata bool) ([]stored, error) {
	where := []string{"trial_id = $1"}
	args := []any{trialID}
	add := func(col, v string) {
		args = append(args, v)
		where = append(where, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if q.Study != "" {
		add("study_uid", q.Study)
	}
	if q.Series != "" {
		add("series_uid", q.Series)
	}
	cols := make([]string, 0, len(q.Match))
	for c := range q.Match {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	for _, c := range cols {
		add(c, q.Match[c])
	}
	var in []string
	for _, st := range states {
		args = append(args, st)
		in = append(in, fmt.Sprintf("$%d", len(args)))
	}
	where = append(where, "status IN ("+strings.Join(in, ", ")+")")
	meta := "''"
	if withMetadata {
		meta = "metadata"
	}
	query := `SELECT study_uid, series_uid, sop_uid, modality, status, object_sha256, ` + meta + ` FROM instances WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY study_uid, series_uid, instance_number, sop_uid`
	var out []stored
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("ingest: search instances: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var st stored
			var meta []byte
			if err := rows.Scan(&st.study, &st.series, &st.sop, &st.modality, &st.status, &st.objectSHA, &meta); err != nil {
				return fmt.Errorf("ingest: read instance: %w", err)
			}
			if withMetadata {
				if err := json.Unmarshal(meta, &st.metadata); err != nil {
					return fmt.Errorf("ingest: instance %s: stored metadata: %w", st.sop, err)
				}
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	return out, err
}

// Search runs a QIDO-RS search of the trial's QC view and returns the
// matches as DICOM JSON objects. base is the URL prefix of the trial's
// DICOMweb service, for RetrieveURL.
func (s *Service) Search(ctx context.Context, p *auth.Principal, trialID string, q Query, base string) ([]map[string]any, error) {
	object := "trial/" + trialID
	if q.Study != "" {
		object = "study/" + q.Study
	}
	role, states, err := s.viewer(ctx, p, trialID, object)
	if err != nil {
		return nil, err
	}
	rows, err := s.instances(ctx, trialID, states, q, false)
	if err != nil {
		return nil, err
	}
	groups := group(rows, q.Level)
	total := len(groups)
	groups = groups[min(q.Offset, len(groups)):]
	groups = groups[:min(q.Limit, len(groups))]
	metadata, err := s.metadataOf(ctx, trialID, groups)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(groups))
	for i, g := range groups {
		out[i] = g.object(q.Level, metadata[g.first.sop], base)
	}
	err = s.db.Record(ctx, p.Actor(role), audit.Event{Action: audit.ActionStudiesQueried, Trial: trialID,
		Object: audit.Object{Type: "dicomweb", ID: object},
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

// metadataOf reads the stored metadata of each match's first instance.
func (s *Service) metadataOf(ctx context.Context, trialID string, ms []*match) (map[string]map[string]json.RawMessage, error) {
	out := map[string]map[string]json.RawMessage{}
	err := s.db.Read(ctx, func(r *db.Reader) error {
		for _, m := range ms {
			var raw []byte
			if err := r.QueryRow(ctx, selectMetadata, trialID, m.first.sop).Scan(&raw); err != nil {
				return fmt.Errorf("ingest: read metadata of %s: %w", m.first.sop, err)
			}
			var md map[string]json.RawMessage
			if err := json.Unmarshal(raw, &md); err != nil {
				return fmt.Errorf("ingest: instance %s: stored metadata: %w", m.first.sop, err)
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
// (WADO-RS), audited as a retrieval.
func (s *Service) Metadata(ctx context.Context, p *auth.Principal, trialID, study, series string) ([]map[string]json.RawMessage, error) {
	object := "series/" + series
	role, states, err := s.viewer(ctx, p, trialID, object)
	if err != nil {
		return nil, err
	}
	rows, err := s.instances(ctx, trialID, states, Query{Study: study, Series: series}, true)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, trialgate.Errorf(trialgate.ENotFound, "no series %s in study %s of trial %s", series, study, trialID)
	}
	out := make([]map[string]json.RawMessage, len(rows))
	for i, r := range rows {
		out[i] = r.metadata
	}
	err = s.db.Record(ctx, p.Actor(role), audit.Event{Action: audit.ActionInstanceRetrieved, Trial: trialID,
		Object: audit.Object{Type: "series", ID: series}, After: map[string]any{"what": "metadata", "instances": len(rows)}})
	return out, err
}

// Retrieve opens one de-identified instance (WADO-RS), audited as a
// retrieval before any byte is sent. The reader verifies the object's
// hash as it is read.
func (s *Service) Retrieve(ctx context.Context, p *auth.Principal, trialID, study, series, sop string) (io.ReadCloser, int64, error) {
	object := "instance/" + sop
	role, states, err := s.viewer(ctx, p, trialID, object)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.instances(ctx, trialID, states, Query{Study: study, Series: series, Match: map[string]string{"sop_uid": sop}}, false)
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return nil, 0, trialgate.Errorf(trialgate.ENotFound, "no instance %s in series %s of study %s", sop, series, study)
	}
	var sum [sha256.Size]byte
	if n, err := hex.Decode(sum[:], []byte(rows[0].objectSHA)); err != nil || n != len(sum) {
		return nil, 0, fmt.Errorf("ingest: instance %s: stored object hash %q is not SHA-256 hex", sop, rows[0].objectSHA)
	}
	key := storage.Key(sum)
	o, err := s.store.Stat(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if err := s.db.Record(ctx, p.Actor(role), audit.Event{Action: audit.ActionInstanceRetrieved, Trial: trialID,
		Object: audit.Object{Type: "instance", ID: sop}, After: map[string]any{"what": "instance", "object_sha256": rows[0].objectSHA}}); err != nil {
		return nil, 0, err
	}
	rc, err := s.store.Get(ctx, key)
	return rc, o.Size, err
}
